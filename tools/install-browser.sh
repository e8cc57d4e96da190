#!/usr/bin/env bash
# Headless Chromium for the `browser` tests (they render leaderboard.html and screenshot it).
# Idempotent: does nothing when `chromium` is already on PATH. Debian/Ubuntu only (apt-get, as root or via sudo).
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "chromium already installed: $(command -v chromium)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: chromium is not on PATH and apt-get is not available; install Chromium by hand" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# No recommends (udev, upower, printing); one font package so the page has text to measure.
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium installed: $(command -v chromium)"
