"""Is a built dataset still the one its manifest describes?

Cheap checks always (``vpbench info``, ``vpbench cache``): info.json and the
manifest read and agree with each other, the raw tree is reachable, every
video is there with the size it was built with. ``hashes=True``
(``--verify``) also hashes every video against the manifest's sha256. Any
mismatch is a one-line :class:`VPBenchError` naming the first problem and
counting the rest: a dataset whose labels no longer describe its videos must
not be used as if it did.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import VPBenchError
from ..core.files import sha256_file
from .builder import content_sha256, load_info, load_manifest


def verify_dataset(dataset_dir: str | os.PathLike, hashes: bool = False, progress: bool = True) -> dict:
    """Check ``dataset_dir``; returns its info.json when everything holds."""
    from ..core.progress import Progress

    root = Path(dataset_dir)
    info = load_info(root)
    manifest = load_manifest(root)
    raw = root / "raw"
    if raw.is_symlink() and not raw.exists():
        raise VPBenchError(
            f"{raw}: links to {os.readlink(raw)}, which is not there; rebuild the dataset or restore its videos"
        )
    if not raw.is_dir():
        raise VPBenchError(f"{raw}: the dataset's raw folder is missing; rebuild the dataset")
    videos = info.get("counts", {}).get("videos")
    if videos != len(manifest):
        raise VPBenchError(
            f"{root}: info.json counts {videos} videos, manifest.parquet has {len(manifest)}; rebuild the dataset"
        )
    if content_sha256(manifest["sha256"]) != info.get("content_sha256"):
        raise VPBenchError(
            f"{root}: info.json and manifest.parquet come from different builds (content hash); rebuild the dataset"
        )
    problems = []
    # Builds from before the manifest recorded sizes are checked for presence only.
    sizes = manifest["bytes"] if "bytes" in manifest.columns else [None] * len(manifest)
    for path, size in zip(manifest["path"], sizes):
        file = root / path
        if not file.is_file():
            problems.append(f"{path} is missing")
        elif size is not None and file.stat().st_size != int(size):
            problems.append(f"{path} has {file.stat().st_size} bytes, the build saw {int(size)}")
    if hashes and not problems:
        for path, digest in Progress(
            list(zip(manifest["path"], manifest["sha256"])),
            desc=f"hashing {info.get('name')}",
            unit="video",
            disable=not progress,
        ):
            if sha256_file(root / path) != digest:
                problems.append(f"{path} differs from the video that was built (sha256)")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise VPBenchError(
            f"{root}: {problems[0]}{more}; the labels no longer describe the videos: rebuild the dataset"
        )
    return info
