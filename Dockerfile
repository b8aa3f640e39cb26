# mlgym task image: the sandbox the agent's commands run in (backend "docker").
#
#   mlgym sandbox build                      # what CI does (no torch)
#   mlgym sandbox build --with-torch         # + torch (CPU wheel; see TORCH_INDEX_URL)
#   docker build -t mlgym-task:latest .      # the same by hand (.dockerignore keeps the context to docker/)
#
# No registry is needed: the default base is built locally from a debootstrap root by
# scripts/build_base_image.sh (Debian bookworm minbase + python3, tagged mlgym-base:bookworm).
#
# GPU hosts: torch wheels from PyPI bundle CUDA, so the default base works with
# `DockerSandbox(device="0")` once the NVIDIA container toolkit is installed:
#   mlgym sandbox build --with-torch --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124
# To use a CUDA base instead (it must provide python3 + python3-venv, e.g. Ubuntu-based):
#   --base-image nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04
ARG BASE_IMAGE=mlgym-base:bookworm
FROM ${BASE_IMAGE}

# Path (inside the build context) of an extra CA bundle pip must trust, e.g. docker/ca.crt
# (`mlgym sandbox build --ca-bundle /etc/ssl/certs/ca-certificates.crt` puts it there).
ARG CA_BUNDLE=
ARG WITH_TORCH=0
ARG TORCH_VERSION=2.13.0
# Empty: PyPI plus any wheels under docker/wheels/ (a local torch+cpu wheel wins there).
ARG TORCH_INDEX_URL=
ARG PIP_PACKAGES="numpy pandas scikit-learn scipy"

ENV LANG=C.UTF-8 \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PIP_CERT=/etc/mlgym/ca.crt \
    REQUESTS_CA_BUNDLE=/etc/mlgym/ca.crt \
    SSL_CERT_FILE=/etc/mlgym/ca.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg

COPY docker/ /tmp/mlgym-build/

RUN set -eu; \
    mkdir -p /etc/mlgym; \
    if [ -n "$CA_BUNDLE" ]; then \
        cp "/tmp/mlgym-build/${CA_BUNDLE#docker/}" /etc/mlgym/ca.crt; \
    else \
        ln -s /etc/ssl/certs/ca-certificates.crt /etc/mlgym/ca.crt; \
    fi; \
    python3 -m venv /opt/venv; \
    pip install --no-compile $PIP_PACKAGES; \
    if [ "$WITH_TORCH" = 1 ]; then \
        extra=""; \
        [ -z "$TORCH_INDEX_URL" ] || extra="--extra-index-url $TORCH_INDEX_URL"; \
        [ ! -d /tmp/mlgym-build/wheels ] || extra="$extra --find-links /tmp/mlgym-build/wheels"; \
        pip install --no-compile $extra "torch==$TORCH_VERSION"; \
    fi; \
    rm -rf /tmp/mlgym-build /root/.cache; \
    python -c "import numpy, pandas, sklearn; print('numpy', numpy.__version__, 'pandas', pandas.__version__, 'sklearn', sklearn.__version__)"

# No agent account: the sandbox runs each command as a fresh host uid from a reserved range
# (mlgym.sandbox.uids), dropped to with setpriv (util-linux) by a root wrapper, so the
# image needs setpriv, timeout and a POSIX sh, which Debian's minbase has.
RUN command -v setpriv && command -v timeout && mkdir -p /workspace

WORKDIR /workspace
CMD ["sleep", "infinity"]
