"""The on-disk clip cache: every video of a built dataset decoded once, for every later evaluation.

``vpbench cache DATASET_DIR`` decodes each video at a profile's frame size and
frame interval (what :func:`vpbench.data.frames.store.load_store` would decode) into
one ``uint8`` array ``F x H x W x 3`` in NumPy's ``.npy`` format, read back
by position (:class:`vpbench.data.frames.framefile.FrameFile`: only the frames asked for
are ever in memory), plus ``index.json`` with the per-video frame offsets. It
lives in ``DATASET_DIR/cache/<H>x<W>-every<k>/``. ``vpbench evaluate`` builds a
missing one on first use (:func:`ensure_cache`), after checking that the folder
is writable and has the space (:func:`check_cache_space`).

A cache is tied to what it was made from: the dataset's content hash (the
SHA-256 of every video file, from ``info.json``), the frame size, the frame
interval and the cache format. :func:`open_cache` refuses a cache whose
dataset content has changed since (a stale cache is an error, never silently
used); no cache at all means the caller decodes. Both files are written
atomically, the index last, so a killed ``vpbench cache`` leaves no cache
that looks whole.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ...core.atomic import atomic_write, atomic_write_json, check_free_space
from ...core.errors import VPBenchError
from .decode import decode_each, decode_job
from .framefile import FrameFile

CACHE_FORMAT = 1
FRAMES_FILE = "frames.npy"
INDEX_FILE = "index.json"


def cache_path(dataset_dir: str | os.PathLike, frame_size: tuple[int, int], frame_interval: int) -> Path:
    h, w = (int(s) for s in frame_size)
    return Path(dataset_dir) / "cache" / f"{h}x{w}-every{int(frame_interval)}"


def sampled_frames(num_frames: int, frame_interval: int) -> int:
    """How many frames a video of ``num_frames`` keeps at ``frame_interval``."""
    return len(range(0, int(num_frames), int(frame_interval)))


def cache_bytes(num_frames, frame_size: tuple[int, int], frame_interval: int) -> int:
    """Bytes of the cache file of videos with ``num_frames`` frames each (the header aside)."""
    h, w = (int(s) for s in frame_size)
    return sum(sampled_frames(n, frame_interval) for n in num_frames) * h * w * 3


@dataclass
class ClipCache:
    path: Path
    frames: FrameFile  # uint8 F x H x W x 3, read by position
    offsets: np.ndarray  # int64 N + 1
    position: dict[str, int]  # video_id -> row in the cache

    def video(self, video_id: str) -> np.ndarray:
        i = self.position[video_id]
        return self.frames[int(self.offsets[i]) : int(self.offsets[i + 1])]


def _dataset_identity(dataset_dir: Path) -> tuple[dict, pd.DataFrame]:
    from ..builder import load_info, load_manifest

    return load_info(dataset_dir), load_manifest(dataset_dir)


def open_cache(
    dataset_dir: str | os.PathLike, frame_size: tuple[int, int], frame_interval: int, video_ids: list[str] | None = None
) -> ClipCache | None:
    """The dataset's cache at this frame size and interval; ``None`` when there is none.

    Raises :class:`VPBenchError` for a cache that does not match the dataset as it is now
    (other content, format, size or interval, or missing videos)."""
    dataset_dir = Path(dataset_dir)
    path = cache_path(dataset_dir, frame_size, frame_interval)
    index_file = path / INDEX_FILE
    if not index_file.is_file():
        return None
    fix = f"rebuild it with `vpbench cache {dataset_dir}` (or delete {path})"
    try:
        index = json.loads(index_file.read_text())
    except (OSError, ValueError) as exc:
        raise VPBenchError(f"{index_file}: unreadable clip cache index ({type(exc).__name__}); {fix}") from None
    info, _ = _dataset_identity(dataset_dir)
    if index.get("format") != CACHE_FORMAT:
        raise VPBenchError(
            f"{path}: clip cache format {index.get('format')!r}, this vpbench reads {CACHE_FORMAT}; {fix}"
        )
    if index.get("content_sha256") != info.get("content_sha256"):
        raise VPBenchError(
            f"{path}: stale clip cache: made for dataset content {str(index.get('content_sha256'))[:12]}, "
            f"the dataset is now {str(info.get('content_sha256'))[:12]}; {fix}"
        )
    if list(index.get("frame_size", [])) != [int(s) for s in frame_size] or index.get("frame_interval") != int(
        frame_interval
    ):
        raise VPBenchError(
            f"{path}: clip cache index says size {index.get('frame_size')} every {index.get('frame_interval')}, "
            f"not {list(frame_size)} every {frame_interval}; {fix}"
        )
    try:
        frames = FrameFile(path / FRAMES_FILE)
    except VPBenchError as exc:
        raise VPBenchError(f"{exc}; {fix}") from None
    offsets = np.asarray(index["offsets"], dtype=np.int64)
    h, w = (int(s) for s in frame_size)
    if frames.shape[1:] != (h, w, 3) or len(frames) != int(offsets[-1]):
        raise VPBenchError(
            f"{path / FRAMES_FILE}: holds {frames.shape}, the index expects "
            f"{int(offsets[-1])} x {h} x {w} x 3 uint8; {fix}"
        )
    position = {v: i for i, v in enumerate(index["video_ids"])}
    missing = [v for v in (video_ids or []) if v not in position]
    if missing:
        raise VPBenchError(f"{path}: clip cache has no video '{missing[0]}'; {fix}")
    return ClipCache(path, frames, offsets, position)


def check_cache_space(dataset_dir: str | os.PathLike, frame_size: tuple[int, int], frame_interval: int) -> int:
    """Before a cache is built: its folder can be written and has room for it; returns the bytes it
    needs (0 when a cache at this size and interval is already there)."""
    dataset_dir = Path(dataset_dir)
    if (cache_path(dataset_dir, frame_size, frame_interval) / INDEX_FILE).is_file():
        return 0
    from ..builder import load_manifest

    needed = cache_bytes(load_manifest(dataset_dir)["num_frames"], frame_size, frame_interval)
    check_free_space(dataset_dir / "cache", needed, _what(dataset_dir, frame_size, frame_interval))
    return needed


def _what(dataset_dir: Path, frame_size: tuple[int, int], frame_interval: int) -> str:
    h, w = (int(s) for s in frame_size)
    return f"the clip cache of {Path(dataset_dir).name} ({h}x{w}, every {int(frame_interval)} frames)"


def ensure_cache(
    dataset_dir: str | os.PathLike,
    frame_size: tuple[int, int],
    frame_interval: int,
    video_ids: list[str] | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> ClipCache:
    """The dataset's cache at this size and interval, built first when there is none."""
    cache = open_cache(dataset_dir, frame_size, frame_interval, video_ids)
    if cache is None:
        build_cache(dataset_dir, frame_size, frame_interval, workers=workers, progress=progress)
        cache = open_cache(dataset_dir, frame_size, frame_interval, video_ids)
    return cache


def build_cache(
    dataset_dir: str | os.PathLike,
    frame_size: tuple[int, int],
    frame_interval: int,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Decode every video of the built dataset once into its clip cache; return the cache folder."""
    from ...core.progress import Progress
    from ..verify import verify_dataset

    dataset_dir = Path(dataset_dir)
    verify_dataset(dataset_dir, progress=progress)  # a cache of videos the labels no longer describe would hide it
    info, manifest = _dataset_identity(dataset_dir)
    size = (int(frame_size[0]), int(frame_size[1]))
    interval = int(frame_interval)
    if interval < 1 or min(size) < 1:
        raise VPBenchError(f"clip cache needs a positive frame size and interval, got {list(size)} every {interval}")
    path = cache_path(dataset_dir, size, interval)
    check_free_space(path, cache_bytes(manifest["num_frames"], size, interval), _what(dataset_dir, size, interval))
    path.mkdir(parents=True, exist_ok=True)
    # The index goes first, so that no old index describes the new frames while they are written.
    (path / INDEX_FILE).unlink(missing_ok=True)
    counts = [sampled_frames(n, interval) for n in manifest["num_frames"]]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    jobs = [decode_job(dataset_dir, p, n, interval, size) for p, n in zip(manifest["path"], manifest["num_frames"])]

    def _write(tmp: Path) -> None:
        # Streamed into the file by position: a real dataset's cache can be far larger than memory.
        out = FrameFile.create(tmp, int(offsets[-1]), size)
        try:
            for k, frames in enumerate(
                Progress(
                    decode_each(jobs, workers),
                    total=len(jobs),
                    desc=f"caching {info.get('name', dataset_dir.name)}",
                    unit="video",
                    disable=not progress,
                )
            ):
                if len(frames) != counts[k]:
                    raise VPBenchError(
                        f"{jobs[k][0]}: decoded {len(frames)} frames, the manifest promises {counts[k]}; rebuild the "
                        f"dataset"
                    )
                out.write(int(offsets[k]), frames)
            out.flush()
        finally:
            out.close()

    atomic_write(path / FRAMES_FILE, _write)
    atomic_write_json(
        path / INDEX_FILE,
        {
            "format": CACHE_FORMAT,
            "dataset": info.get("name"),
            "content_sha256": info.get("content_sha256"),
            "frame_size": list(size),
            "frame_interval": interval,
            "videos": len(manifest),
            "frames": int(offsets[-1]),
            "video_ids": list(manifest["video_id"]),
            "offsets": offsets.tolist(),
        },
    )
    return path
