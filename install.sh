#!/usr/bin/env bash
# Install mlgym into ./.venv (Python 3.11+) at the exact versions pinned in requirements.lock.
#   ./install.sh           the package and what the offline default task needs
#   ./install.sh --torch   + PyTorch (CPU) for the cifar10 task
#   ./install.sh --rl      + the RL stacks (openenv, verifiers, trl, transformers, ray; docs/rl.md)
#   ./install.sh --test    + test tools, the RL stacks and the system services the test suite uses
#                          (bubblewrap, Docker with a locally built base image, Chromium)
#   ./install.sh --no-lock the newest versions setup.cfg allows (scripts/lock.sh uses it)
# Environment: PYTHON (default python3), VENV (default .venv).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
LOCK=requirements.lock
TORCH=0; TEST=0; RL=0
for arg in "$@"; do
  case "$arg" in
    --torch) TORCH=1 ;;
    --rl) RL=1; TORCH=1 ;;
    --test) TEST=1; TORCH=1; RL=1 ;;
    --no-lock) LOCK= ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
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

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV" || { apt_install python3-venv && "$PY" -m venv "$VENV"; }
fi
# Every pip call is constrained by the lock, so a fresh install gets exactly the versions the
# test suite passed with (tests/integration/test_install.py fails when the venv drifts from it).
VPIP=("$VENV/bin/python" -m pip install -q)
[ -z "$LOCK" ] || VPIP+=(-c "$LOCK")
# pip and setuptools first: mlgym is built with the venv's (locked) setuptools, not a fresh one.
"${VPIP[@]}" --upgrade pip setuptools
extras="dev"
[ "$RL" = 0 ] || extras="$extras,rl"
if [ "$TORCH" = 1 ]; then
  say "installing PyTorch 2.13.0 (CPU)"
  # On this project's machines the CPU wheel comes from the local wheel cache pip is configured
  # with; elsewhere from the PyTorch CPU index (the lock pins the +cpu build, which PyPI lacks).
  "${VPIP[@]}" "torch==2.13.0" \
    || "${VPIP[@]}" --extra-index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
fi
say "installing mlgym${LOCK:+ (versions from $LOCK)}"
"${VPIP[@]}" --no-build-isolation -e ".[$extras]"

if [ "$TEST" = 1 ]; then
  [ -f .ci/setup_docker.sh ] && { say "Docker engine and images"; bash .ci/setup_docker.sh; }
  [ -f .ci/setup_chromium.sh ] && { say "Chromium (report tests)"; bash .ci/setup_chromium.sh; }
fi
say "done: $VENV/bin/python -m mlgym.runner --help"
