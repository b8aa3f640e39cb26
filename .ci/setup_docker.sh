#!/usr/bin/env bash
# Make Docker usable for the test suite: install docker.io + debootstrap when missing,
# start dockerd when no daemon answers, build the base and task images (no torch).
# Idempotent; a second run takes seconds (cached layers).  Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3

log() { echo "[setup_docker] $*"; }

missing=()
command -v docker >/dev/null || missing+=(docker.io)
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: /tmp/dockerd.log)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  # setsid: the daemon must outlive this script and not get its signals.
  $SUDO setsid dockerd >/tmp/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not come up in 60s; see /tmp/dockerd.log"; tail -5 /tmp/dockerd.log >&2; exit 1; }
fi
log "docker $(docker version --format '{{.Server.Version}}') is up"

scripts/build_base_image.sh
# Cached layers make this a no-op when nothing changed.
"$PY" -m mlgym.cli sandbox build | grep -E '^(building|built) ' || { log "task image build failed"; exit 1; }
"$PY" -m mlgym.cli sandbox gc >/dev/null || true
