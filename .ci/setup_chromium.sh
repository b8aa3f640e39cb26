#!/usr/bin/env bash
# Headless Chromium for tests/unit/analysis/test_report.py (the report page is opened and checked for
# console errors).  Idempotent: does nothing when a Chromium is already on PATH.
# Skip the browser test instead with MLGYM_SKIP_BROWSER=1.
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then
        echo "chromium: $(command -v "$name") ($("$name" --version 2>/dev/null || echo 'version unknown'))"
        exit 0
    fi
done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_chromium: no chromium and no apt-get; install Chromium by hand or set MLGYM_SKIP_BROWSER=1" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium
echo "chromium: $(command -v chromium) ($(chromium --version 2>/dev/null || echo 'version unknown'))"
