#!/usr/bin/env bash
# ffmpeg/ffprobe from Debian's packages, for FiftyOne's own video tools.
#
# `vpbench view` does not need it: it fills each sample's video metadata from
# the dataset manifest and re-encodes with PyAV's bundled libx264. FiftyOne's
# compute_metadata(), its video utilities and the App (for samples without
# metadata) call `ffprobe`/`ffmpeg` on PATH and, without them, leave metadata
# empty without an error. Idempotent: does nothing when ffprobe is there.
#
#   tools/install-ffmpeg.sh
set -euo pipefail

if command -v ffprobe >/dev/null 2>&1 && command -v ffmpeg >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-ffmpeg.sh: no apt-get here; install ffmpeg (with ffprobe) with your system's package manager" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
ffprobe -version | head -1
