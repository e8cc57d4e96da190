"""The preview strip beside a result: raw frames above the same frames transformed (PNG bytes)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np

from ..core.figures import figure, png

log = logging.getLogger(__name__)


def _pick_frames(video: np.ndarray, count: int) -> np.ndarray:
    idx = np.unique(np.linspace(0, len(video) - 1, count).round().astype(int))
    return video[idx]


def preview_strip(
    raw: Sequence[np.ndarray], transformed: Sequence[np.ndarray], method: str, frames_per_video: int = 4
) -> bytes:
    """A strip like the STPrivacy paper's Figure 3: per video, a row of raw frames above the same frames transformed.

    ``raw[i]`` and ``transformed[i]`` are uint8 ``T x H x W x 3`` of the same shape.
    """
    if not raw or len(raw) != len(transformed):
        raise ValueError("preview_strip needs one transformed video per raw video")
    h, w = raw[0].shape[1:3]
    scale = max(1, round(96 / h))  # frames about 96 px tall, upscaled by whole pixels so they stay sharp
    gap, group_gap, label_w = 2, 10, 120
    rows = []
    for r, t in zip(raw, transformed):
        rows.append((_pick_frames(r, frames_per_video), "raw"))
        rows.append((_pick_frames(t, frames_per_video), method))
    cols = max(len(f) for f, _ in rows)
    fh, fw = h * scale, w * scale
    grid_w = cols * fw + (cols - 1) * gap
    grid_h = len(rows) * fh + (len(rows) - 1) * gap + (len(raw) - 1) * group_gap
    grid = np.full((grid_h, grid_w, 3), 255, np.uint8)
    tops = []
    y = 0
    for i, (frames, _) in enumerate(rows):
        tops.append(y)
        for j, frame in enumerate(frames):
            big = frame.repeat(scale, 0).repeat(scale, 1)
            grid[y : y + fh, j * (fw + gap) : j * (fw + gap) + fw] = big
        y += fh + gap + (group_gap if i % 2 == 1 else 0)

    top_pad = 8
    fig = figure(label_w + grid_w + 8, grid_h + 2 * top_pad)
    W, H = label_w + grid_w + 8, grid_h + 2 * top_pad
    ax = fig.add_axes([label_w / W, top_pad / H, grid_w / W, grid_h / H])
    ax.imshow(grid, interpolation="nearest", aspect="auto")
    ax.set_axis_off()
    for i, ((_, name), top) in enumerate(zip(rows, tops)):
        y_frac = 1 - (top_pad + top + fh / 2) / H
        text = f"video {i // 2 + 1}\n{name}" if i % 2 == 0 else name
        fig.text(
            8 / W,
            y_frac,
            text,
            va="center",
            ha="left",
            fontsize=9,
            color="0.2" if i % 2 == 0 else "black",
            fontweight="normal" if i % 2 == 0 else "bold",
        )
    return png(fig)


def write_preview(
    path: str | os.PathLike,
    raw_store,
    transformed_store,
    indices: Sequence[int],
    method: str,
    frames_per_video: int = 4,
) -> None:
    """Save the preview strip of ``indices`` (videos of two FrameStores) to ``path``; never fails the caller.

    A preview is decoration beside a result that took minutes to compute, so a
    drawing error is logged and swallowed rather than raised.
    """
    from ..core.atomic import atomic_write_bytes

    try:
        indices = list(indices)
        if not indices:
            return
        data = preview_strip(
            [raw_store.video(i) for i in indices],
            [transformed_store.video(i) for i in indices],
            method,
            frames_per_video,
        )
        atomic_write_bytes(path, data)
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.warning("could not write the preview %s: %s", path, exc)
