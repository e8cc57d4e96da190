"""The action-privacy trade-off plot of a leaderboard table (PNG bytes, see :mod:`vpbench.core.figures`).

Labels are placed by adjustText (github Phlya/adjustText): repelled from each other and from the points, kept
inside the axes, with a thin leader line when moved away from their point. It runs a fixed number of
iterations (``iter_lim``, never its default time limit) from a seeded start, and a last deterministic pass
moves any label adjustText left over another; so the same points give the same placement and the same PNG
bytes for one matplotlib and adjustText version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..core.figures import figure, png


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


def _method_colors(methods: Sequence[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {m: cmap(i % 10) for i, m in enumerate(sorted(set(methods)))}


def tradeoff_figure(points: Sequence[TradeoffPoint], title: str):
    """Top-1 against cMAP (both %), with 95% CI bars, the Pareto front as a staircase, deployment sweeps (e.g.
    keep ratios) as curves, and every point's label (the axes' ``texts``) placed clear of the others."""
    fig = figure(760, 520)
    ax = fig.add_subplot(1, 1, 1)
    colors = _method_colors([p.method for p in points])
    for p in points:
        ax.errorbar(
            p.cmap,
            p.top1,
            xerr=[[p.cmap - p.cmap_ci[0]], [p.cmap_ci[1] - p.cmap]],
            yerr=[[p.top1 - p.top1_ci[0]], [p.top1_ci[1] - p.top1]],
            fmt="none",
            ecolor=colors[p.method],
            alpha=0.35,
            elinewidth=1,
            capsize=2,
            zorder=1,
        )
        ax.scatter(
            [p.cmap],
            [p.top1],
            s=130 if p.on_front else 55,
            marker="*" if p.on_front else "o",
            color=colors[p.method],
            edgecolors="black",
            linewidths=0.6,
            zorder=3,
        )

    # Every label is a text at its point; adjust_text (below, once the layout is final) moves them apart.
    labels = [(p.sweep_label or p.label, p.cmap, p.top1, "black") for p in points]

    front = sorted((p.cmap, p.top1) for p in points if p.on_front)
    if front:
        xs, ys = zip(*front)
        # Staircase: everything below-right of it is dominated (lower top-1 at higher cMAP).
        ax.plot(
            xs, ys, drawstyle="steps-post", linestyle="--", color="black", linewidth=1, zorder=2, label="Pareto front"
        )

    sweeps: dict[str, list[TradeoffPoint]] = {}
    for p in points:
        if p.sweep is not None:
            sweeps.setdefault(p.sweep, []).append(p)
    for key in sorted(sweeps):
        curve = sorted(sweeps[key], key=lambda q: (q.cmap, q.top1))
        ax.plot(
            [q.cmap for q in curve],
            [q.top1 for q in curve],
            color=colors[curve[0].method],
            linewidth=1.5,
            zorder=2,
            label=f"{key}: keep-ratio sweep",
        )

    paper = {}
    for p in points:
        if p.paper is not None:
            paper.setdefault(p.method, p.paper)
    for method, (top1, cmap) in sorted(paper.items()):
        ax.scatter(
            [cmap], [top1], s=60, marker="D", facecolors="none", edgecolors=colors[method], linewidths=1.5, zorder=3
        )
        labels.append((f"{method} (paper)", cmap, top1, "0.35"))

    if paper:  # one neutral legend entry for all methods' paper points
        ax.scatter(
            [], [], s=60, marker="D", facecolors="none", edgecolors="0.35", linewidths=1.5, label="paper-reported"
        )
    ax.set_xlabel("privacy cMAP (%)  \u2190 better")
    ax.set_ylabel("action top-1 (%)  \u2191 better")
    ax.set_title(title, fontsize=11)
    ax.grid(True, color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.margins(0.12)
    legend = ax.legend(loc="lower right", fontsize=8, frameon=True) if ax.get_legend_handles_labels()[0] else None
    texts = [ax.text(x, y, text, fontsize=8, color=color, zorder=4) for text, x, y, color in labels]
    fig.tight_layout()  # before placing the labels: the layout fixes the axes they are placed in
    _place_labels(ax, texts, [(x, y) for _, x, y, _ in labels], legend)
    return fig


def _place_labels(ax, texts: list, anchors: list[tuple[float, float]], legend) -> None:
    """Move ``texts`` (at their ``anchors``, data coordinates) apart and clear of the points, inside the axes
    (adjustText, a fixed iteration count), then make sure of it (:func:`_separate`) and draw leader lines."""
    if not texts:
        return
    from adjustText import adjust_text

    xs, ys = zip(*anchors)
    adjust_text(
        texts,
        x=list(xs),
        y=list(ys),
        objects=[legend] if legend is not None else None,
        ax=ax,
        iter_lim=500,
        time_lim=None,
        ensure_inside_axes=True,
        expand=(1.15, 1.4),
        force_text=(0.3, 0.6),
    )
    _separate(ax, texts)
    _leader_lines(ax, texts, anchors)


def _separate(ax, texts: list) -> None:
    """adjustText minimizes overlaps without promising none: each label still overlapping an earlier one (or
    outside the axes) moves to the nearest free place, tried in a fixed order of steps of its own height and
    half-width. The labels end up pairwise apart as long as the axes have room."""
    renderer = ax.figure.canvas.get_renderer()
    area = ax.get_window_extent(renderer)
    placed = []

    def free(box) -> bool:
        inside = area.x0 <= box.x0 and box.x1 <= area.x1 and area.y0 <= box.y0 and box.y1 <= area.y1
        return inside and not any(box.overlaps(other) for other in placed)

    for text in texts:
        box = text.get_window_extent(renderer)
        if not free(box):
            rings = [(0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1)]
            steps = [(r * i * box.width / 2, r * j * box.height) for r in range(1, 41) for i, j in rings]
            for dx, dy in steps:
                if free(box.translated(dx, dy)):
                    x, y = ax.transData.transform(text.get_position())
                    text.set_position(ax.transData.inverted().transform((x + dx, y + dy)))
                    box = box.translated(dx, dy)
                    break
        placed.append(box)


def _leader_lines(ax, texts: list, anchors: list[tuple[float, float]], min_px: float = 5.0) -> None:
    """A thin line from each label moved more than ``min_px`` away from its point back to the point."""
    from matplotlib.patches import FancyArrowPatch

    renderer = ax.figure.canvas.get_renderer()
    for text, anchor in zip(texts, anchors):
        box = text.get_window_extent(renderer)
        ax_, ay = ax.transData.transform(anchor)
        gap = max(box.x0 - ax_, 0.0, ax_ - box.x1), max(box.y0 - ay, 0.0, ay - box.y1)
        if (gap[0] ** 2 + gap[1] ** 2) ** 0.5 >= min_px:
            ax.add_patch(
                FancyArrowPatch(
                    posA=text.get_position(),
                    posB=anchor,
                    patchA=text,
                    shrinkB=4,
                    arrowstyle="-",
                    color="0.5",
                    linewidth=0.6,
                    zorder=3,
                )
            )


def tradeoff_plot(points: Sequence[TradeoffPoint], title: str) -> bytes:
    """:func:`tradeoff_figure` as PNG bytes."""
    return png(tradeoff_figure(points, title))
