#!/usr/bin/env bash
# Build the mlgym base image (Debian bookworm, minbase + python3) without a registry:
# debootstrap a root into a temp dir and `docker import` it.
#
#   scripts/build_base_image.sh [--force] [--tag mlgym-base:bookworm] [--mirror URL]
#
# The Debian mirror is read from the host's apt sources unless --mirror or
# $MLGYM_DEBIAN_MIRROR is given.  Idempotent: skips when the tag exists (--force rebuilds).
set -euo pipefail

TAG="${MLGYM_BASE_IMAGE:-mlgym-base:bookworm}"
FORCE=0
MIRROR="${MLGYM_DEBIAN_MIRROR:-}"
SUITE=bookworm
while [ $# -gt 0 ]; do
  case "$1" in
    --force) FORCE=1 ;;
    --tag) TAG="$2"; shift ;;
    --mirror) MIRROR="$2"; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "build_base_image.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "[base-image] $*"; }

if ! docker info >/dev/null 2>&1; then
  echo "build_base_image.sh: docker daemon not reachable (start dockerd, or run .ci/setup_docker.sh)" >&2
  exit 1
fi
if [ "$FORCE" = 0 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  log "$TAG exists; skipping (use --force to rebuild)"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "build_base_image.sh: debootstrap missing (apt-get install debootstrap)" >&2; exit 1; }

# First Debian (non-security) URI from the host's apt configuration.
if [ -z "$MIRROR" ]; then
  MIRROR=$( { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}';
              cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '/^deb / {for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; break}}'; } \
            | grep -i '/debian/\?$' | grep -vi security | head -n1 || true)
fi
[ -n "$MIRROR" ] || { echo "build_base_image.sh: no Debian mirror in apt sources; pass --mirror URL" >&2; exit 1; }

ROOT=$(mktemp -d /tmp/mlgym-base.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
START=$(date +%s)
log "debootstrap $SUITE (minbase) from $MIRROR into $ROOT"
debootstrap --variant=minbase \
  --include=python3,python3-venv,python3-pip,ca-certificates,coreutils,procps \
  "$SUITE" "$ROOT" "$MIRROR" 2>&1 | awk '/^I: .*(packages|system)\.\.\.$|successfully/ {print "[base-image]   " $0; fflush()}'
[ -x "$ROOT/usr/bin/python3" ] || { echo "build_base_image.sh: debootstrap failed (no python3 in root)" >&2; exit 1; }

log "trimming apt lists, caches and docs"
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* \
       "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/locale/*
printf 'deb %s %s main\n' "$MIRROR" "$SUITE" > "$ROOT/etc/apt/sources.list"

log "docker import -> $TAG"
tar -C "$ROOT" -c . | docker import \
  -c 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'CMD ["/bin/bash"]' \
  -m "mlgym base: debootstrap $SUITE minbase" - "$TAG" >/dev/null
log "done: $TAG in $(( $(date +%s) - START ))s"
