"""Shared fixtures: tiny real videos written on the fly, and the reference data path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def reference_data() -> Path | None:
    """``../shared/data`` (or ``$VPBENCH_REFERENCE_DATA``) when present."""
    path = Path(os.environ.get("VPBENCH_REFERENCE_DATA", REPO.parent / "shared" / "data"))
    return path if path.is_dir() else None


@pytest.fixture
def reference() -> Path:
    path = reference_data()
    if path is None:
        pytest.skip("reference data (../shared/data or VPBENCH_REFERENCE_DATA) is not present")
    return path


def gradient_frames(num_frames: int, height: int = 32, width: int = 64, seed: int = 0) -> np.ndarray:
    """Smooth frames that MPEG-4 keeps nearly intact; each frame differs (a moving bar)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), np.full_like(x, 128)], -1)
    frames = np.repeat(base[None], num_frames, 0).astype(np.uint8)
    color = rng.integers(0, 255, 3, dtype=np.uint8)
    for t in range(num_frames):
        x0 = (t * 3) % max(width - 8, 1)
        frames[t, :, x0 : x0 + 8] = color
    return frames


@pytest.fixture
def make_video(tmp_path):
    from vpbench.data.video import write_video

    def _make(name: str, num_frames: int = 20, height: int = 32, width: int = 64, seed: int = 0) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, gradient_frames(num_frames, height, width, seed), fps=25)
        return path

    return _make
