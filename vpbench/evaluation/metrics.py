"""Benchmark metrics (SPEC section 7).

- Action top-1: video-level accuracy of the view-averaged softmax scores.
- Privacy class-wise F1: F1 per attribute at probability 0.5, then the mean
  (a decimal in [0, 1]).
- Privacy cMAP: average precision per attribute
  (``sklearn.metrics.average_precision_score``), then the mean, in percent.

An attribute with no positive in the test set has no AP (and no meaningful
F1): it is left out of the means and named in ``excluded`` by
:func:`privacy_scores`, never dropped silently. Inputs are sigmoid
*probabilities*, not logits (SPAct's code thresholds raw logits at 0.5; that
would be a different metric).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..core.errors import VPBenchError

PRIVACY_THRESHOLD = 0.5


def _as_2d(name: str, x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise VPBenchError(f"{name} must be a 2-D array [N, P], got shape {a.shape}")
    return a


def action_top1(scores, labels) -> float:
    """Share of videos whose highest score is the true class; ``scores[N, C]``, ``labels[N]``."""
    scores = _as_2d("scores", scores)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(scores):
        raise VPBenchError(f"scores has {len(scores)} rows but labels has {len(labels)}")
    if len(labels) == 0:
        raise VPBenchError("action_top1 of an empty test set is undefined")
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def per_action_top1(scores, labels, names) -> dict:
    """Top-1 of each action class present in ``labels``, and the class its errors go to most
    (``names[i]`` names class ``i``): which actions a method costs, e.g. a prop pair merged."""
    scores = _as_2d("scores", scores)
    labels = np.asarray(labels).reshape(-1)
    predicted = np.argmax(scores, axis=1)
    out = {}
    for c in np.unique(labels):
        mine = predicted[labels == c]
        wrong = mine[mine != c]
        entry = {"top1": float(np.mean(mine == c)), "videos": int(len(mine))}
        if len(wrong):
            entry["most_confused_with"] = str(names[int(np.bincount(wrong).argmax())])
        out[str(names[int(c)])] = entry
    return out


def _check_privacy(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    probs, labels = _as_2d("probs", probs), _as_2d("labels", labels)
    if probs.shape != labels.shape:
        raise VPBenchError(f"probs {probs.shape} and labels {labels.shape} differ in shape")
    if probs.size and (probs.min() < 0 or probs.max() > 1):
        raise VPBenchError("privacy metrics take probabilities in [0, 1] (apply a sigmoid to logits)")
    if not np.isin(labels, (0, 1)).all():
        raise VPBenchError("privacy labels must be 0 or 1")
    return probs, labels.astype(np.int64)


def _f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = int(np.sum(pred & truth))
    fp = int(np.sum(pred & ~truth))
    fn = int(np.sum(~pred & truth))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def _ap(prob: np.ndarray, truth: np.ndarray) -> float:
    """Average precision as scikit-learn's ``average_precision_score`` computes it (sum over distinct
    thresholds of recall gained x precision), in numpy: the bootstrap calls it thousands of times,
    and scikit-learn's input checks made scoring take about 12 s per evaluation."""
    order = np.argsort(-prob, kind="mergesort")
    prob, truth = prob[order], truth[order].astype(np.int64)
    last_of_each_value = np.r_[np.flatnonzero(np.diff(prob)), len(prob) - 1]
    tps = np.cumsum(truth)[last_of_each_value]
    precision = tps / (last_of_each_value + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def privacy_scores(probs, labels, names: Sequence[str] | None = None) -> dict:
    """Per-attribute F1 and AP, their means over attributes with positives, and what was excluded."""
    probs, labels = _check_privacy(probs, labels)
    names = list(names) if names is not None else [f"attribute_{j}" for j in range(probs.shape[1])]
    per, excluded = {}, []
    for j, name in enumerate(names):
        truth = labels[:, j].astype(bool)
        if not truth.any():
            excluded.append(name)
            per[name] = {"f1": None, "ap": None, "positives": 0}
            continue
        pred = probs[:, j] >= PRIVACY_THRESHOLD
        per[name] = {"f1": _f1(pred, truth), "ap": 100.0 * _ap(probs[:, j], truth), "positives": int(truth.sum())}
    kept = [n for n in names if n not in excluded]
    if not kept:
        raise VPBenchError("no privacy attribute has a positive in the test set: F1 and cMAP are undefined")
    return {
        "f1": float(np.mean([per[n]["f1"] for n in kept])),
        "cmap": float(np.mean([per[n]["ap"] for n in kept])),
        "per_attribute": per,
        "excluded": excluded,
    }


def privacy_f1(probs, labels) -> float:
    """Mean class-wise F1 at probability 0.5 over attributes with positives, in [0, 1]."""
    return privacy_scores(probs, labels)["f1"]


def privacy_cmap(probs, labels) -> float:
    """Mean average precision over attributes with positives, in percent."""
    return privacy_scores(probs, labels)["cmap"]


def bootstrap_ci(
    metric: Callable[..., float | tuple[float, ...]],
    arrays: Sequence[np.ndarray],
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    groups: np.ndarray | None = None,
):
    """Percentile bootstrap interval of ``metric(*arrays)`` over resampled test videos (rows).

    With ``groups`` (one id per row, e.g. the video of each frame), whole groups are resampled with
    replacement and each brings all its rows: the cluster bootstrap, since rows of one group are not
    independent and resampling them one by one gives intervals that are too narrow.

    A resample on which the metric is undefined (e.g. no positive left for
    any attribute) is drawn again, so the interval is over defined values.
    A metric returning a tuple gets one ``(low, high)`` per element, all from
    the same resamples (F1 and cMAP share one pass over the privacy scores).
    """
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise VPBenchError("bootstrap arrays must have the same number of rows")
    members: list[np.ndarray] | None = None
    if groups is not None:
        groups = np.asarray(groups).reshape(-1)
        if len(groups) != n:
            raise VPBenchError(f"bootstrap groups has {len(groups)} rows, the arrays {n}")
        _, inverse = np.unique(groups, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        members = np.split(order, np.flatnonzero(np.diff(inverse[order])) + 1) if n else []
    rng = np.random.default_rng(seed)
    values: list[float] = []
    attempts = 0
    while len(values) < n_boot and attempts < 10 * n_boot:
        attempts += 1
        if members is None:
            idx = rng.integers(0, n, n)
        else:
            idx = (
                np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])
                if members
                else np.zeros(0, int)
            )
        try:
            values.append(metric(*(np.asarray(a)[idx] for a in arrays)))
        except VPBenchError:
            continue
    if not values:
        raise VPBenchError("the metric is undefined on every bootstrap resample")
    alpha = (1 - level) / 2
    bounds = np.quantile(np.asarray(values, dtype=np.float64), [alpha, 1 - alpha], axis=0)
    if bounds.ndim == 1:
        return float(bounds[0]), float(bounds[1])
    return [(float(lo), float(hi)) for lo, hi in bounds.T]
