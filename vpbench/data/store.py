"""Decoded videos at the working resolution, held once for a whole evaluation.

Evaluation samples many clips from each video over many epochs; decoding an
AVI every time is the usual bottleneck of video training on a CPU. A
:class:`FrameStore` decodes every video once (frames at the protocol's
sampling rate, resized to the profile's frame size) into one contiguous
``uint8`` array ``F x H x W x 3`` with per-video offsets, plus optional
person masks (rasterized boxes) and per-frame privacy labels.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..attributes import ATTRIBUTES
from ..errors import VPBenchError
from .cache import open_cache
from .video import read_frames


@dataclass
class FrameStore:
    frames: np.ndarray  # uint8 F x H x W x 3
    offsets: np.ndarray  # int64 N + 1: video i is frames[offsets[i]:offsets[i + 1]]
    video_ids: list[str]
    masks: np.ndarray | None = None  # bool F x H x W: person regions
    frame_labels: np.ndarray | None = None  # int8 F x 5: per-frame privacy labels
    source: str = "decoded"  # or "cache <folder>": where the frames came from

    def __len__(self) -> int:
        return len(self.video_ids)

    def num_frames(self, i: int) -> int:
        return int(self.offsets[i + 1] - self.offsets[i])

    def video(self, i: int) -> np.ndarray:
        return self.frames[self.offsets[i] : self.offsets[i + 1]]

    def video_masks(self, i: int) -> np.ndarray | None:
        return None if self.masks is None else self.masks[self.offsets[i] : self.offsets[i + 1]]

    def video_frame_labels(self, i: int) -> np.ndarray | None:
        return None if self.frame_labels is None else self.frame_labels[self.offsets[i] : self.offsets[i + 1]]

    @property
    def frame_size(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def subset(self, indices) -> FrameStore:
        """A store of the videos at ``indices`` (copies their frames)."""
        indices = list(indices)
        parts = [self.video(i) for i in indices]
        lengths = [len(p) for p in parts]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return FrameStore(
            np.concatenate(parts) if parts else self.frames[:0],
            offsets,
            [self.video_ids[i] for i in indices],
            None if self.masks is None else np.concatenate([self.video_masks(i) for i in indices]),
            None if self.frame_labels is None else np.concatenate([self.video_frame_labels(i) for i in indices]),
        )

    def with_frames(self, frames: np.ndarray) -> FrameStore:
        """The same videos with new pixels (a method's output)."""
        if frames.shape != self.frames.shape or frames.dtype != np.uint8:
            raise VPBenchError(f"transformed frames must keep shape {self.frames.shape} uint8, got {frames.shape} {frames.dtype}")
        return FrameStore(frames, self.offsets, self.video_ids, self.masks, self.frame_labels)


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


def decode_job(dataset_dir: Path, path: str, num_frames: int, frame_interval: int, size: tuple[int, int]) -> tuple[str, int, int, tuple[int, int]]:
    """The arguments of :func:`decode_video` for one manifest row (plain values: they cross processes)."""
    return (str(Path(dataset_dir) / path), int(num_frames), int(frame_interval), (int(size[0]), int(size[1])))


def decode_video(args: tuple[str, int, int, tuple[int, int]]) -> np.ndarray:
    """One video's frames at the interval, resized: what the store and the clip cache hold."""
    import torch

    torch.set_num_threads(1)
    path, num_frames, interval, size = args
    return resize_frames(read_frames(path, np.arange(0, num_frames, interval)), size)


def _rasterize(boxes: pd.DataFrame, frame_idx: np.ndarray, src_wh: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Boxes (source pixels) of the sampled frames as boolean masks at ``size``."""
    h, w = size
    sx, sy = w / src_wh[0], h / src_wh[1]
    masks = np.zeros((len(frame_idx), h, w), dtype=bool)
    pos = {int(f): k for k, f in enumerate(frame_idx)}
    for row in boxes.itertuples(index=False):
        k = pos.get(int(row.frame))
        if k is None:
            continue
        x0, x1 = int(np.floor(row.x0 * sx)), int(np.ceil(row.x1 * sx))
        y0, y1 = int(np.floor(row.y0 * sy)), int(np.ceil(row.y1 * sy))
        masks[k, max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)] = True
    return masks


def _import_decoders() -> None:
    import torch  # noqa: F401

    try:
        import decord  # noqa: F401
    except ImportError:  # read_frames falls back to PyAV
        pass


def _decode_all(dataset_dir: Path, manifest: pd.DataFrame, size: tuple[int, int], frame_interval: int,
                workers: int | None, progress: bool, desc: str) -> tuple[np.ndarray, np.ndarray]:
    from tqdm import tqdm

    jobs = [decode_job(dataset_dir, p, n, frame_interval, size) for p, n in zip(manifest["path"], manifest["num_frames"])]
    workers = workers or min(mp.cpu_count(), 8)
    parts: list[np.ndarray] = []
    with tqdm(total=len(jobs), desc=desc, unit="video", disable=None if progress else True) as bar:
        if workers <= 1 or len(jobs) < 8:
            for job in jobs:
                parts.append(decode_video(job))
                bar.update()
        else:
            _import_decoders()  # before the fork: otherwise every worker pays torch's ~1 s import itself
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
                for frames in pool.map(decode_video, jobs, chunksize=4):
                    parts.append(frames)
                    bar.update()
    lengths = [len(p) for p in parts]
    return np.concatenate(parts), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def load_store(
    dataset_dir: str | Path,
    manifest: pd.DataFrame,
    frame_size: tuple[int, int],
    frame_interval: int = 1,
    with_masks: bool = False,
    with_frame_labels: bool = False,
    workers: int | None = None,
    progress: bool = True,
    desc: str = "decoding",
    use_cache: bool = True,
) -> FrameStore:
    """The manifest's videos as a :class:`FrameStore` (rows in manifest order): from the dataset's
    clip cache at this size and interval when there is one (a stale one is an error), else decoded."""
    dataset_dir = Path(dataset_dir)
    size = (int(frame_size[0]), int(frame_size[1]))
    cache = open_cache(dataset_dir, size, frame_interval, list(manifest["video_id"])) if use_cache else None
    if cache is not None:
        frames, offsets = cache.gather(list(manifest["video_id"]))
        store = FrameStore(frames, offsets, list(manifest["video_id"]), source=f"cache {cache.path}")
    else:
        store = FrameStore(*_decode_all(dataset_dir, manifest, size, frame_interval, workers, progress, desc), list(manifest["video_id"]))
    sampled = [np.arange(0, int(n), int(frame_interval)) for n in manifest["num_frames"]]
    if with_masks:
        path = dataset_dir / "boxes.parquet"
        if not path.is_file():
            raise VPBenchError(f"{dataset_dir}: the dataset has no person boxes (boxes.parquet); build it with --boxes, or ask for the whole frame explicitly")
        boxes = pd.read_parquet(path)
        groups = dict(tuple(boxes.groupby("video_id", sort=False)))
        empty = boxes.iloc[:0]
        store.masks = np.concatenate([
            _rasterize(groups.get(vid, empty), idx, (int(w), int(h)), size)
            for vid, idx, w, h in zip(manifest["video_id"], sampled, manifest["width"], manifest["height"])
        ])
    if with_frame_labels:
        path = dataset_dir / "frame_labels.parquet"
        if not path.is_file():
            raise VPBenchError(f"{dataset_dir}: the dataset has no frame-level labels (frame_labels.parquet)")
        table = pd.read_parquet(path)
        by_video = {vid: g.sort_values("frame")[list(ATTRIBUTES)].to_numpy(np.int8) for vid, g in table.groupby("video_id")}
        missing = [vid for vid in manifest["video_id"] if vid not in by_video]
        if missing:
            raise VPBenchError(f"{dataset_dir}: no frame labels for video '{missing[0]}'")
        store.frame_labels = np.concatenate([by_video[vid][idx] for vid, idx in zip(manifest["video_id"], sampled)])
    return store
