"""Pictures of results: the action-privacy trade-off plot and the raw/transformed preview strip.

Both are drawn with matplotlib's object API on an Agg canvas (no pyplot, so
nothing here changes the backend of a notebook that imports vpbench) and
returned as PNG bytes with fixed metadata, so the same input gives the same
bytes and a leaderboard can be rebuilt and diffed.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

# matplotlib stamps its version into "Software"; dropping it keeps bytes equal across runs.
_PNG_METADATA = {"Software": None}


@dataclass(frozen=True)
class TradeoffPoint:
    """One result on the trade-off plot (top-1 and cMAP in percent)."""

    label: str
    method: str
    top1: float
    top1_ci: tuple[float, float]
    cmap: float
    cmap_ci: tuple[float, float]
    on_front: bool
    sweep: str | None = None  # points sharing a sweep key are joined into a keep-ratio curve
    sweep_label: str | None = None  # the point's tag on the curve, e.g. "r=0.2"
    paper: tuple[float, float] | None = None  # the paper's (top1 %, cMAP %) for this method


def _figure(width_px: int, height_px: int, dpi: int = 100):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata=_PNG_METADATA)
    return buf.getvalue()


def _method_colors(methods: Sequence[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {m: cmap(i % 10) for i, m in enumerate(sorted(set(methods)))}


def tradeoff_plot(points: Sequence[TradeoffPoint], title: str) -> bytes:
    """Top-1 against cMAP (both %), with 95% CI bars, the Pareto front as a staircase and keep-ratio sweeps as curves."""
    fig = _figure(760, 520)
    ax = fig.add_subplot(1, 1, 1)
    colors = _method_colors([p.method for p in points])
    for p in points:
        ax.errorbar(p.cmap, p.top1, xerr=[[p.cmap - p.cmap_ci[0]], [p.cmap_ci[1] - p.cmap]],
                    yerr=[[p.top1 - p.top1_ci[0]], [p.top1_ci[1] - p.top1]], fmt="none", ecolor=colors[p.method],
                    alpha=0.35, elinewidth=1, capsize=2, zorder=1)
        ax.scatter([p.cmap], [p.top1], s=130 if p.on_front else 55, marker="*" if p.on_front else "o",
                   color=colors[p.method], edgecolors="black", linewidths=0.6, zorder=3)

    # Sweep points sit close together: their tags alternate above and below the curve so they stay legible.
    below = {id(q) for key in {p.sweep for p in points if p.sweep} for q in
             sorted((p for p in points if p.sweep == key), key=lambda q: (q.cmap, q.top1))[1::2]}
    for p in points:
        ax.annotate(p.sweep_label or p.label, (p.cmap, p.top1), xytext=(6, -12 if id(p) in below else 5),
                    textcoords="offset points", fontsize=8, zorder=4)

    front = sorted((p.cmap, p.top1) for p in points if p.on_front)
    if front:
        xs, ys = zip(*front)
        # Staircase: everything below-right of it is dominated (lower top-1 at higher cMAP).
        ax.plot(xs, ys, drawstyle="steps-post", linestyle="--", color="black", linewidth=1, zorder=2, label="Pareto front")

    sweeps: dict[str, list[TradeoffPoint]] = {}
    for p in points:
        if p.sweep is not None:
            sweeps.setdefault(p.sweep, []).append(p)
    for key in sorted(sweeps):
        curve = sorted(sweeps[key], key=lambda q: (q.cmap, q.top1))
        ax.plot([q.cmap for q in curve], [q.top1 for q in curve], color=colors[curve[0].method], linewidth=1.5,
                zorder=2, label=f"{key}: keep-ratio sweep")

    paper = {}
    for p in points:
        if p.paper is not None:
            paper.setdefault(p.method, p.paper)
    for method, (top1, cmap) in sorted(paper.items()):
        ax.scatter([cmap], [top1], s=60, marker="D", facecolors="none", edgecolors=colors[method], linewidths=1.5, zorder=3)
        ax.annotate(f"{method} (paper)", (cmap, top1), xytext=(6, -11), textcoords="offset points", fontsize=8, color="0.35")

    if paper:  # one neutral legend entry for all methods' paper points
        ax.scatter([], [], s=60, marker="D", facecolors="none", edgecolors="0.35", linewidths=1.5, label="paper-reported")
    ax.set_xlabel("privacy cMAP (%)  \u2190 better")
    ax.set_ylabel("action top-1 (%)  \u2191 better")
    ax.set_title(title, fontsize=11)
    ax.grid(True, color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.margins(0.12)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8, frameon=True)
    fig.tight_layout()
    return _png(fig)


def _pick_frames(video: np.ndarray, count: int) -> np.ndarray:
    idx = np.unique(np.linspace(0, len(video) - 1, count).round().astype(int))
    return video[idx]


def preview_strip(raw: Sequence[np.ndarray], transformed: Sequence[np.ndarray], method: str, frames_per_video: int = 4) -> bytes:
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
    fig = _figure(label_w + grid_w + 8, grid_h + 2 * top_pad)
    W, H = label_w + grid_w + 8, grid_h + 2 * top_pad
    ax = fig.add_axes([label_w / W, top_pad / H, grid_w / W, grid_h / H])
    ax.imshow(grid, interpolation="nearest", aspect="auto")
    ax.set_axis_off()
    for i, ((_, name), top) in enumerate(zip(rows, tops)):
        y_frac = 1 - (top_pad + top + fh / 2) / H
        text = f"video {i // 2 + 1}\n{name}" if i % 2 == 0 else name
        fig.text(8 / W, y_frac, text, va="center", ha="left", fontsize=9, color="0.2" if i % 2 == 0 else "black",
                 fontweight="normal" if i % 2 == 0 else "bold")
    return _png(fig)


def write_preview(path: str | os.PathLike, raw_store, transformed_store, indices: Sequence[int], method: str, frames_per_video: int = 4) -> None:
    """Save the preview strip of ``indices`` (videos of two FrameStores) to ``path``; never fails the caller.

    A preview is decoration beside a result that took minutes to compute, so a
    drawing error is logged and swallowed rather than raised.
    """
    from .atomic import atomic_write_bytes

    try:
        indices = list(indices)
        if not indices:
            return
        data = preview_strip([raw_store.video(i) for i in indices], [transformed_store.video(i) for i in indices], method, frames_per_video)
        atomic_write_bytes(path, data)
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.warning("could not write the preview %s: %s", path, exc)
