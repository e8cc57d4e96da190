"""What every stage needs to know about a file: its sha256, and whether its name is a video's.

Both live in ``core`` because the labels stage (which strips video extensions from
the names in label files) may not import ``data``, and ``data`` (which lists the
videos of a raw folder) must agree with it on what a video name is.
"""

from __future__ import annotations

import hashlib
import os

# The suffixes (lower case) of the files read as videos: listed in a raw folder (`vpbench build`,
# the annotation campaign) and stripped from the names in label files and manifests. One list, so
# that a file the builder finds and the label naming it get the same video id. It is every
# container the FFmpeg under both decoders demuxes (decord falls back to PyAV, and PyAV's wheels
# read them all: AVI, MP4/M4V/3GP/MOV, Matroska/WebM, MPEG-PS, ASF/WMV, FLV, Ogg, animated GIF).
# Names with other dots ("Dr._No_clip") keep them: only these suffixes are cut.
VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".avi",
    ".mp4",
    ".mkv",
    ".mov",
    ".webm",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".flv",
    ".ogv",
    ".3gp",
    ".gif",
)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks (videos and checkpoints need not fit in memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
