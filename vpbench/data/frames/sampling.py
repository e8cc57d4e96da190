"""Clip sampling: which frames and which crops a model sees.

A clip is ``clip_len`` frames taken every ``frame_interval`` frames. Training
draws one clip at a random start; testing takes ``num_clips`` evenly spaced
clips and ``num_crops`` spatial crops per clip, and the scores of all views
are averaged per video (the paper: 5 clips x 3 crops).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.errors import VPBenchError


@dataclass(frozen=True)
class ClipSampler:
    clip_len: int = 16
    frame_interval: int = 1
    num_clips: int = 1
    mode: str = "test"  # "train": random start; "test": evenly spaced starts

    def __post_init__(self) -> None:
        if self.clip_len < 1 or self.frame_interval < 1 or self.num_clips < 1:
            raise VPBenchError("clip_len, frame_interval and num_clips must be positive")
        if self.mode not in ("train", "test"):
            raise VPBenchError(f"clip sampling mode must be 'train' or 'test', not '{self.mode}'")

    @property
    def span(self) -> int:
        """Frames covered by one clip, first to last inclusive."""
        return (self.clip_len - 1) * self.frame_interval + 1

    def __call__(self, num_frames: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """Frame indices, shape ``num_clips x clip_len``.

        A video shorter than one clip's span is read with indices clipped to
        its last frame (the common practice of mmaction2 and pytorchvideo); the
        builder already refuses videos shorter than ``clip_len`` frames.
        """
        if num_frames < 1:
            raise VPBenchError("cannot sample a clip from a video with no frames")
        max_start = max(num_frames - self.span, 0)
        if self.mode == "train":
            rng = rng if rng is not None else np.random.default_rng()
            starts = rng.integers(0, max_start + 1, size=self.num_clips)
        else:
            starts = np.linspace(0, max_start, self.num_clips).round().astype(np.int64)
        offsets = np.arange(self.clip_len) * self.frame_interval
        return np.minimum(starts[:, None] + offsets[None, :], num_frames - 1).astype(np.int64)


def random_clip(num_frames: int, clip_len: int, rng: np.random.Generator) -> np.ndarray:
    """Frame indices of one training clip of ``clip_len`` consecutive frames at a random start (the
    sampler every training loop uses: recognizers, STPrivacy and the learned baselines)."""
    return ClipSampler(clip_len=clip_len, mode="train")(num_frames, rng)[0]


def crop_boxes(height: int, width: int, size: int, num_crops: int) -> list[tuple[int, int, int, int]]:
    """``(y0, x0, y1, x1)`` square crops of side ``size`` for multi-crop testing.

    One crop is the centre; three are spread along the longer side (left/top,
    centre, right/bottom), as in the 3-crop test of the paper's protocol.
    """
    if size > min(height, width):
        raise VPBenchError(f"crop size {size} is larger than the frame ({height}x{width})")
    if num_crops not in (1, 3):
        raise VPBenchError(f"num_crops must be 1 or 3, not {num_crops}")
    cy, cx = (height - size) // 2, (width - size) // 2
    if num_crops == 1:
        return [(cy, cx, cy + size, cx + size)]
    if width >= height:
        xs = [0, cx, width - size]
        return [(cy, x, cy + size, x + size) for x in xs]
    ys = [0, cy, height - size]
    return [(y, cx, y + size, cx + size) for y in ys]


def random_crop_box(height: int, width: int, size: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A random ``(y0, x0, y1, x1)`` square crop of side ``size`` (training)."""
    if size > min(height, width):
        raise VPBenchError(f"crop size {size} is larger than the frame ({height}x{width})")
    y = int(rng.integers(0, height - size + 1))
    x = int(rng.integers(0, width - size + 1))
    return (y, x, y + size, x + size)


def random_scaled_box(height: int, width: int, min_scale: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A random ``(y0, x0, y1, x1)`` crop with the frame's aspect ratio and sides ``s`` times the frame's,
    ``s`` uniform in ``[min_scale, 1]`` (scale jitter for networks that need the whole frame)."""
    if not 0.0 < min_scale <= 1.0:
        raise VPBenchError(f"min_scale must be in (0, 1], got {min_scale}")
    s = float(rng.uniform(min_scale, 1.0))
    h, w = max(1, round(height * s)), max(1, round(width * s))
    y = int(rng.integers(0, height - h + 1))
    x = int(rng.integers(0, width - w + 1))
    return (y, x, y + h, x + w)
