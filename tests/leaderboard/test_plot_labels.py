"""The trade-off plot never prints a label over another, nor outside its axes (issue 24, item 6), and places
them the same way every time (the leaderboard is byte-identical on reruns)."""

from __future__ import annotations

import itertools

import pytest

from vpbench.leaderboard.plots import TradeoffPoint, tradeoff_figure, tradeoff_plot

# The demo's results (results/reference/README.md: known, synth-hmdb51, cpu profile, seed 0): top-1 as a
# fraction, shown in percent, and cMAP in percent, with their 95% intervals.
DEMO = [
    ("raw", 0.917, (0.858, 0.967), 87.31, (83.74, 91.03)),
    ("downsample-2x", 0.742, (0.667, 0.817), 85.92, (82.38, 90.48)),
    ("downsample-4x", 0.733, (0.650, 0.808), 85.19, (81.55, 89.97)),
    ("blackening", 0.650, (0.558, 0.733), 58.91, (52.68, 66.89)),
    ("strongblur", 0.500, (0.408, 0.592), 81.28, (77.05, 86.37)),
    ("weakblur", 0.642, (0.558, 0.725), 83.10, (80.03, 87.50)),
    ("vita", 0.992, (0.975, 1.000), 75.56, (71.63, 80.59)),
    ("spact", 0.925, (0.875, 0.967), 70.44, (64.95, 76.81)),
    ("collective", 0.975, (0.942, 1.000), 77.78, (72.54, 83.18)),
    ("stprivacy", 0.992, (0.975, 1.000), 48.49, (43.58, 56.90)),
]
TITLE = "known, synth-hmdb51: action-privacy trade-off"


def _points(paper: bool = False) -> list[TradeoffPoint]:
    return [
        TradeoffPoint(
            label=name,
            method=name,
            top1=100 * top1,
            top1_ci=(100 * ci[0], 100 * ci[1]),
            cmap=cmap,
            cmap_ci=cmap_ci,
            on_front=name == "stprivacy",  # it dominates every other point: higher top-1, lower cMAP
            paper=(top1 * 100 - 3, cmap + 1.5) if paper else None,  # paper points close to each run's
        )
        for name, top1, ci, cmap, cmap_ci in DEMO
    ]


def _label_boxes(points):
    fig = tradeoff_figure(points, TITLE)
    ax = fig.axes[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return {t.get_text(): t.get_window_extent(renderer) for t in ax.texts}, ax.get_window_extent(renderer)


@pytest.mark.parametrize("paper", [False, True], ids=["demo", "demo-with-paper-points"])
def test_no_label_overlaps_another_or_leaves_the_axes(paper):
    points = _points(paper)
    boxes, axes = _label_boxes(points)
    want = {p.label for p in points} | ({f"{p.method} (paper)" for p in points} if paper else set())
    assert set(boxes) == want  # every point labelled, and nothing else drawn as a label
    for (a, box_a), (b, box_b) in itertools.combinations(sorted(boxes.items()), 2):
        assert not box_a.overlaps(box_b), f"'{a}' {box_a.bounds} overlaps '{b}' {box_b.bounds}"
    for name, box in boxes.items():
        inside = axes.x0 <= box.x0 and box.x1 <= axes.x1 and axes.y0 <= box.y0 and box.y1 <= axes.y1
        assert inside, f"'{name}' {box.bounds} leaves the axes {axes.bounds}"


def test_the_downsample_labels_of_the_demo_are_apart():
    boxes, _ = _label_boxes(_points())
    assert not boxes["downsample-2x"].overlaps(boxes["downsample-4x"])


def test_label_placement_is_the_same_on_every_run():
    assert tradeoff_plot(_points(), TITLE) == tradeoff_plot(_points(), TITLE)


def test_labels_left_on_top_of_each_other_are_moved_apart():
    """The last pass does not rely on adjustText: labels at one spot (identical points) end apart, inside."""
    from vpbench.core.figures import figure
    from vpbench.leaderboard.plots import _separate

    fig = figure(400, 300)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xlim(0, 10), ax.set_ylim(0, 10)
    texts = [ax.text(5, 5, f"downsample-{k}x", fontsize=8) for k in range(6)]
    fig.canvas.draw()
    _separate(ax, texts)
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in texts]
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    area = ax.get_window_extent(renderer)
    assert all(area.x0 <= b.x0 and b.x1 <= area.x1 and area.y0 <= b.y0 and b.y1 <= area.y1 for b in boxes)
