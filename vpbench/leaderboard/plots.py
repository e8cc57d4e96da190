"""The action-privacy trade-off plot of a leaderboard table (PNG bytes, see :mod:`vpbench.core.figures`)."""

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


def tradeoff_plot(points: Sequence[TradeoffPoint], title: str) -> bytes:
    """Top-1 against cMAP (both %), with 95% CI bars, the Pareto front as a staircase and deployment
    sweeps (e.g. keep ratios) as curves."""
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

    # Sweep points sit close together: their tags alternate above and below the curve so they stay legible.
    below = {
        id(q)
        for key in {p.sweep for p in points if p.sweep}
        for q in sorted((p for p in points if p.sweep == key), key=lambda q: (q.cmap, q.top1))[1::2]
    }
    for p in points:
        ax.annotate(
            p.sweep_label or p.label,
            (p.cmap, p.top1),
            xytext=(6, -12 if id(p) in below else 5),
            textcoords="offset points",
            fontsize=8,
            zorder=4,
        )

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
        ax.annotate(
            f"{method} (paper)", (cmap, top1), xytext=(6, -11), textcoords="offset points", fontsize=8, color="0.35"
        )

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
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8, frameon=True)
    fig.tight_layout()
    return png(fig)
