"""Decoding a dataset's videos at a profile's frame size and interval: what the clip cache holds.

One function decodes one video (:func:`decode_video`, plain arguments so that it
runs in a process pool); :func:`decode_all` decodes a manifest's videos into memory
(small data and benchmarks); :func:`vpbench.data.frames.cache.build_cache` streams them
into the cache file.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from ..video import read_frames


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 ``T x h x w x 3`` -> uint8 ``T x H x W x 3`` (bilinear with antialiasing).

    Resized in uint8 on a channels-last view: torch's vectorized uint8 antialias kernel is about
    20x faster than converting to float (a 320x240 HMDB51 video resized faster than it decodes),
    and differs from the float path by at most one level of rounding.
    """
    import torch
    import torch.nn.functional as F

    if frames.shape[1:3] == tuple(size):
        return np.ascontiguousarray(frames)
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # NCHW view, channels-last memory
    y = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    return y.permute(0, 2, 3, 1).contiguous().numpy()


def decode_job(
    dataset_dir: Path, path: str, num_frames: int, frame_interval: int, size: tuple[int, int]
) -> tuple[str, int, int, tuple[int, int]]:
    """The arguments of :func:`decode_video` for one manifest row (plain values: they cross processes)."""
    return (str(Path(dataset_dir) / path), int(num_frames), int(frame_interval), (int(size[0]), int(size[1])))


def decode_video(args: tuple[str, int, int, tuple[int, int]]) -> np.ndarray:
    """One video's frames at the interval, resized: what the store and the clip cache hold."""
    import torch

    torch.set_num_threads(1)
    path, num_frames, interval, size = args
    return resize_frames(read_frames(path, np.arange(0, num_frames, interval)), size)


def import_decoders() -> None:
    import torch  # noqa: F401

    try:
        import decord  # noqa: F401
    except ImportError:  # read_frames falls back to PyAV
        pass


def decode_each(jobs: list, workers: int | None = None):
    """Frames of each :func:`decode_job` in order, decoded in a pool of ``workers`` processes."""
    workers = workers or min(mp.cpu_count(), 8)
    if workers <= 1 or len(jobs) < 8:
        yield from map(decode_video, jobs)
        return
    import_decoders()  # before the fork: otherwise every worker pays torch's ~1 s import itself
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"))
    try:
        yield from pool.map(decode_video, jobs, chunksize=4)
    finally:  # an error or an interrupt drops the videos still queued instead of decoding them first
        pool.shutdown(wait=True, cancel_futures=True)


def decode_all(
    dataset_dir: Path,
    manifest: pd.DataFrame,
    size: tuple[int, int],
    frame_interval: int,
    workers: int | None = None,
    progress: bool = True,
    desc: str = "decoding",
) -> tuple[np.ndarray, np.ndarray]:
    """Every video of ``manifest`` decoded into one in-memory array, and the per-video offsets."""
    from ...core.progress import Progress

    jobs = [
        decode_job(dataset_dir, p, n, frame_interval, size) for p, n in zip(manifest["path"], manifest["num_frames"])
    ]
    parts = [
        frames
        for frames in Progress(
            decode_each(jobs, workers), total=len(jobs), desc=desc, unit="video", disable=not progress
        )
    ]
    lengths = [len(p) for p in parts]
    return np.concatenate(parts), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
