#!/usr/bin/env bash
# Install mlgym into ./.venv (Python 3.11+).
#   ./install.sh           the package and what the offline default task needs
#   ./install.sh --torch   + PyTorch (CPU) for the cifar10 task
#   ./install.sh --test    + test tools and the system services the test suite uses
#                          (bubblewrap, Docker with a locally built base image, Chromium)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
TORCH=0; TEST=0
for arg in "$@"; do
  case "$arg" in
    --torch) TORCH=1 ;;
    --test) TEST=1; TORCH=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done
say() { printf '\033[1m[install]\033[0m %s\n' "$*"; }

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "install.sh: need Python >= 3.11 as '$PY' (set PYTHON=...)" >&2; exit 2
fi
apt_install() {  # only as root on Debian/Ubuntu; otherwise say what is missing
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    [ -n "${_APT_UPDATED:-}" ] || { apt-get update -qq; _APT_UPDATED=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    say "not root: install $* yourself for full isolation"
  fi
}
command -v bwrap >/dev/null || { say "installing bubblewrap (sandbox isolation)"; apt_install bubblewrap || true; }

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv || { apt_install python3-venv && "$PY" -m venv .venv; }
fi
VPIP=".venv/bin/python -m pip"
$VPIP install -q --upgrade pip
extras="dev"
if [ "$TORCH" = 1 ]; then
  say "installing PyTorch 2.13.0"
  # CPU wheels first where the PyTorch index is reachable; on this project's machines the
  # pinned version comes from the local wheel cache pip is configured with.
  $VPIP install -q "torch==2.13.0" || $VPIP install -q --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
fi
say "installing mlgym"
$VPIP install -q -e ".[$extras]"

if [ "$TEST" = 1 ]; then
  [ -f .ci/setup_docker.sh ] && { say "Docker engine and images"; bash .ci/setup_docker.sh; }
  [ -f .ci/setup_chromium.sh ] && { say "Chromium (report tests)"; bash .ci/setup_chromium.sh; }
fi
say "done: .venv/bin/python -m mlgym.runner --help"
