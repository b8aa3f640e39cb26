#!/usr/bin/env bash
# Time building the docker sandbox image from nothing: debootstrap base + task image,
# no layer cache.  Uses throw-away tags (mlgym-base:timing, mlgym-task:timing) and
# removes them afterwards, so the images the tests use are left alone.
#
#   scripts/time_image_build.sh [--with-torch]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
EXTRA=("$@")
BASE=mlgym-base:timing TASK=mlgym-task:timing
cleanup() { docker image rm -f "$TASK" "$BASE" >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup

t0=$(date +%s.%N)
scripts/build_base_image.sh --force --tag "$BASE" | tail -n 1
t1=$(date +%s.%N)
"$PY" -m mlgym.cli sandbox build --no-cache --base-image "$BASE" --tag "$TASK" "${EXTRA[@]}" | tail -n 1
t2=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" \
  'BEGIN { printf "image build from nothing: base %.1fs + task %.1fs = %.1fs\n", b - a, c - b, c - a }'
