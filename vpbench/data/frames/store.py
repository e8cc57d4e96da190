"""The frames of an evaluation's videos: where each video is in a pool of frames, not the frames.

Evaluation samples many clips from each video over many epochs; decoding an
AVI every time is the usual bottleneck of video training, and holding every
decoded frame in memory does not fit the real datasets (VP-UCF101 at the paper
profile: about 37 GB of frames). A :class:`FrameStore` is an index: video ``i``
is rows ``starts[i] .. starts[i] + counts[i]`` of a frame pool, ``uint8``
``F x H x W x 3`` (frames at the protocol's sampling rate, resized to the
profile's frame size). The pool is normally the dataset's clip cache on disk
(:mod:`vpbench.data.frames.cache`, read by :class:`vpbench.data.frames.framefile.FrameFile`),
so a process holds only the frames of its current batch; subsets are index
views of the same pool. Person masks are rasterized from the boxes per video
when asked for; per-frame privacy labels are a small array aligned with the pool.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ...core.attributes import ATTRIBUTES
from ...core.errors import VPBenchError
from .cache import ensure_cache
from .decode import decode_all
from .framefile import FrameFile


class BoxMasks:
    """Person masks of videos, rasterized from their boxes when a video's are asked for."""

    def __init__(self, boxes: pd.DataFrame, manifest: pd.DataFrame, frame_interval: int, size: tuple[int, int]) -> None:
        groups = dict(tuple(boxes.groupby("video_id", sort=False)))
        empty = boxes.iloc[:0]
        self.size = size
        self._videos = {
            vid: (groups.get(vid, empty), np.arange(0, int(n), int(frame_interval)), (int(w), int(h)))
            for vid, n, w, h in zip(manifest["video_id"], manifest["num_frames"], manifest["width"], manifest["height"])
        }

    def video(self, video_id: str) -> np.ndarray:
        boxes, frame_idx, src_wh = self._videos[video_id]
        return _rasterize(boxes, frame_idx, src_wh, self.size)


class VideoFrames:
    """One video of a store as a lazy sequence of frames: ``len()``, and indexing that reads only the
    frames asked for (what a method's fit needs from its training videos, see :class:`FitData`)."""

    def __init__(self, pool, start: int, count: int) -> None:
        self._pool, self._start, self._count = pool, int(start), int(count)

    def __len__(self) -> int:
        return self._count

    @property
    def shape(self) -> tuple[int, ...]:
        return (self._count, *self._pool.shape[1:])

    def __getitem__(self, key) -> np.ndarray:
        rest: tuple = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        if isinstance(key, slice):
            a, b, step = key.indices(self._count)
            rows = np.arange(a, b, step)
        else:
            rows = np.asarray(key, dtype=np.int64)
            if rows.size and (rows.min() < -self._count or rows.max() >= self._count):
                raise IndexError(f"frame index outside 0..{self._count - 1}")
            rows = np.where(rows < 0, rows + self._count, rows)
        out = self._pool[self._start + rows.reshape(-1)] if rows.ndim else self._pool[int(self._start + rows)]
        return out[(slice(None), *rest)] if rest and rows.ndim else (out[rest] if rest else out)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)


@dataclass
class FrameStore:
    frames: np.ndarray | FrameFile  # the pool: uint8 F x H x W x 3 (in memory, or a file read by position)
    starts: np.ndarray  # int64 N: video i is pool rows starts[i] .. starts[i] + counts[i]
    counts: np.ndarray  # int64 N
    video_ids: list[str]
    masks: BoxMasks | None = None  # person regions, per video on demand
    frame_labels: np.ndarray | None = None  # int8 F x 5, aligned with the pool: per-frame privacy labels
    source: str = "decoded"  # or "cache <folder>": where the frames came from

    @classmethod
    def from_offsets(
        cls, frames, offsets, video_ids: list[str], frame_labels: np.ndarray | None = None, source: str = "decoded"
    ) -> FrameStore:
        """Videos stored one after another: video ``i`` is ``frames[offsets[i]:offsets[i + 1]]``."""
        offsets = np.asarray(offsets, dtype=np.int64)
        return cls(
            frames, offsets[:-1].copy(), np.diff(offsets), list(video_ids), frame_labels=frame_labels, source=source
        )

    def __len__(self) -> int:
        return len(self.video_ids)

    def num_frames(self, i: int) -> int:
        return int(self.counts[i])

    def rows(self, i: int) -> np.ndarray:
        """Pool rows of video ``i`` (indices into ``frames`` and ``frame_labels``)."""
        return np.arange(self.starts[i], self.starts[i] + self.counts[i])

    def video(self, i: int) -> np.ndarray:
        """All frames of video ``i`` (a copy when the pool is a file)."""
        return self.frames[int(self.starts[i]) : int(self.starts[i] + self.counts[i])]

    def video_frames(self, i: int) -> VideoFrames | np.ndarray:
        """Video ``i`` without reading it: a view (an in-memory pool) or a lazy :class:`VideoFrames`."""
        if isinstance(self.frames, np.ndarray):
            return self.video(i)
        return VideoFrames(self.frames, int(self.starts[i]), int(self.counts[i]))

    def frames_at(self, i: int, idx: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """Frames ``idx`` of video ``i`` (indices within the video, e.g. a clip from
        :mod:`vpbench.data.frames.sampling`), cropped to ``box`` = (y0, x0, y1, x1) when given."""
        rows = np.asarray(idx, dtype=np.int64) + self.starts[i]
        if box is None:
            return self.frames[rows]
        y0, x0, y1, x1 = box
        return self.frames[rows, y0:y1, x0:x1]

    def video_masks(self, i: int) -> np.ndarray | None:
        return None if self.masks is None else self.masks.video(self.video_ids[i])

    def video_frame_labels(self, i: int) -> np.ndarray | None:
        return None if self.frame_labels is None else self.frame_labels[self.rows(i)]

    @property
    def total_frames(self) -> int:
        return int(self.counts.sum())

    @property
    def frame_size(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def subset(self, indices) -> FrameStore:
        """The videos at ``indices``: an index view of the same pool (no frame is copied)."""
        indices = np.asarray(list(indices), dtype=np.int64)
        return replace(
            self,
            starts=self.starts[indices],
            counts=self.counts[indices],
            video_ids=[self.video_ids[i] for i in indices],
        )

    def with_frames(self, frames, starts: np.ndarray | None = None) -> FrameStore:
        """The same videos with new pixels (a method's output) in pool ``frames``, video ``i`` at row
        ``starts[i]`` (default: where it is in this store's pool); frame labels follow."""
        starts = self.starts if starts is None else np.asarray(starts, dtype=np.int64)
        if tuple(frames.shape[1:]) != tuple(self.frames.shape[1:]) or len(frames) < int(
            (starts + self.counts).max(initial=0)
        ):
            raise VPBenchError(
                f"transformed frames must keep frames of {tuple(self.frames.shape[1:])} uint8 for every video, "
                f"got {tuple(frames.shape)}"
            )
        labels = self.frame_labels
        if labels is not None and starts is not self.starts:
            moved = np.zeros((len(frames), labels.shape[1]), dtype=labels.dtype)
            for i in range(len(self)):
                moved[starts[i] : starts[i] + self.counts[i]] = self.video_frame_labels(i)
            labels = moved
        return replace(self, frames=frames, starts=starts, frame_labels=labels)


def _rasterize(
    boxes: pd.DataFrame, frame_idx: np.ndarray, src_wh: tuple[int, int], size: tuple[int, int]
) -> np.ndarray:
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
    """The manifest's videos as a :class:`FrameStore` (rows in manifest order).

    With ``use_cache`` (what evaluation does) the store indexes the dataset's clip cache at this size
    and interval, which is built first when there is none (a stale one is an error); nothing is read
    yet. ``use_cache=False`` decodes every video into memory (for small data and benchmarks)."""
    dataset_dir = Path(dataset_dir)
    size = (int(frame_size[0]), int(frame_size[1]))
    ids = list(manifest["video_id"])
    if use_cache:
        cache = ensure_cache(dataset_dir, size, frame_interval, ids, workers=workers, progress=progress)
        rows = np.array([cache.position[v] for v in ids], dtype=np.int64)
        store = FrameStore(
            cache.frames, cache.offsets[rows], np.diff(cache.offsets)[rows], ids, source=f"cache {cache.path}"
        )
    else:
        frames, offsets = decode_all(dataset_dir, manifest, size, frame_interval, workers, progress, desc)
        store = FrameStore.from_offsets(frames, offsets, ids)
    if with_masks:
        path = dataset_dir / "boxes.parquet"
        if not path.is_file():
            raise VPBenchError(
                f"{dataset_dir}: the dataset has no person boxes (boxes.parquet); build it with --boxes, or ask for "
                f"the whole frame explicitly"
            )
        store.masks = BoxMasks(pd.read_parquet(path), manifest, frame_interval, size)
    if with_frame_labels:
        path = dataset_dir / "frame_labels.parquet"
        if not path.is_file():
            raise VPBenchError(f"{dataset_dir}: the dataset has no frame-level labels (frame_labels.parquet)")
        table = pd.read_parquet(path)
        by_video = {
            vid: g.sort_values("frame")[list(ATTRIBUTES)].to_numpy(np.int8) for vid, g in table.groupby("video_id")
        }
        missing = [vid for vid in ids if vid not in by_video]
        if missing:
            raise VPBenchError(f"{dataset_dir}: no frame labels for video '{missing[0]}'")
        labels = np.zeros((len(store.frames), len(ATTRIBUTES)), dtype=np.int8)
        for i, (vid, n) in enumerate(zip(ids, manifest["num_frames"])):
            labels[store.rows(i)] = by_video[vid][np.arange(0, int(n), int(frame_interval))]
        store.frame_labels = labels
    return store
