"""Majority-vote aggregation of a votes table, with the agreement statistics.

The paper labels each video by majority vote of at least three annotators.
Besides the labels, :func:`aggregate_votes` keeps what a reader needs to judge
them: per video and attribute the yes count, vote count and whether it was a
tie; per attribute Fleiss' kappa; per annotator the agreement with the
majority.

Tie policy. A tie is resolved as *positive* (identifiable) by default: calling
a privacy attribute absent when half of the annotators saw it would let a
method be scored as protecting something it never removed. "negative" is
available for comparison with sources that resolve ties the other way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...core.attributes import ATTRIBUTES
from ...core.errors import VPBenchError, unknown_name_error

__all__ = [
    "TIE_POLICIES",
    "DEFAULT_TIE_POLICY",
    "Aggregate",
    "aggregate_votes",
    "fleiss_kappa",
    "fleiss_kappa_varying",
]

TIE_POLICIES: tuple[str, ...] = ("positive", "negative")
# Privacy-conservative: an attribute half the annotators saw counts as
# identifiable, so no method gets credit for hiding what it left visible.
DEFAULT_TIE_POLICY = "positive"


@dataclass
class Aggregate:
    """Labels from majority vote and the agreement behind them.

    ``labels`` is indexed by video key (sorted) with, per attribute ``a``:
    ``a`` (0/1 label), ``a_yes`` (yes votes), ``a_votes`` (votes), ``a_tie``
    (bool); and ``annotators`` (distinct annotators who voted on the video).
    ``fleiss_kappa`` is None for an attribute where it is undefined; ``notes``
    says why. ``annotator_agreement[annotator]`` is ``{"votes": n,
    "agreement": share of the n votes equal to the final label}``.
    """

    labels: pd.DataFrame
    fleiss_kappa: dict[str, float | None]
    annotator_agreement: dict[str, dict[str, float | int]]
    tie_policy: str
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- Fleiss' kappa


def _as_counts(counts: object) -> np.ndarray:
    table = np.asarray(counts)
    if table.ndim != 2 or table.shape[0] == 0 or table.shape[1] == 0:
        raise VPBenchError(f"Fleiss' kappa needs a non-empty items x categories table, got shape {table.shape}")
    if (
        table.dtype.kind not in "biuf"
        or not np.all(np.isfinite(table))
        or np.any(table < 0)
        or np.any(table != np.round(table))
    ):
        raise VPBenchError("Fleiss' kappa needs non-negative whole-number counts")
    return table.astype(np.int64)


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa (Fleiss 1971) for an items x categories table of counts.

    ``counts[i, j]`` is the number of raters who put item ``i`` in category
    ``j``; every item must have the same number of raters n >= 2 (use
    :func:`fleiss_kappa_varying` otherwise). Returns NaN when kappa is
    undefined because every rating falls in one category (P_e = 1).
    """
    table = _as_counts(counts)
    per_item = table.sum(axis=1)
    n = int(per_item[0])
    if np.any(per_item != n):
        raise VPBenchError(
            "Fleiss' kappa table form needs the same number of raters for every item; use fleiss_kappa_varying"
        )
    if n < 2:
        raise VPBenchError("Fleiss' kappa needs at least two raters per item")
    items = table.shape[0]
    if np.any(table.sum(axis=0) == items * n):
        return float("nan")
    p_i = ((table**2).sum(axis=1) - n) / (n * (n - 1))
    p_bar = p_i.mean()
    p_j = table.sum(axis=0) / (items * n)
    p_e = float((p_j**2).sum())
    return float((p_bar - p_e) / (1.0 - p_e))


def _kappa_varying(table: np.ndarray) -> tuple[float | None, str | None, int]:
    """Kappa, the reason when it is None, and how many items were left out."""
    per_item = table.sum(axis=1)
    # An item rated once says nothing about agreement.
    usable = per_item >= 2
    left_out = int((~usable).sum())
    if not usable.any():
        return None, "no item has two or more ratings", left_out
    table, n_i = table[usable], per_item[usable]
    totals = table.sum(axis=0)
    if np.any(totals == totals.sum()):
        return None, "every rating falls in one category, so chance agreement is 1", left_out
    p_i = ((table**2).sum(axis=1) - n_i) / (n_i * (n_i - 1))
    p_bar = p_i.mean()
    p_j = totals / totals.sum()
    p_e = float((p_j**2).sum())
    return float((p_bar - p_e) / (1.0 - p_e)), None, left_out


def fleiss_kappa_varying(counts: np.ndarray) -> float:
    """Fleiss' kappa allowing a different number of raters per item.

    Items with fewer than two ratings are left out; then
    P_i = (sum_j n_ij^2 - n_i) / (n_i (n_i - 1)), P_bar = mean P_i,
    p_j = sum_i n_ij / sum_i n_i, P_e = sum_j p_j^2 and
    kappa = (P_bar - P_e) / (1 - P_e). Equals :func:`fleiss_kappa` when every
    item has the same number of raters. NaN when undefined.
    """
    value, _, _ = _kappa_varying(_as_counts(counts))
    return float("nan") if value is None else value


# --------------------------------------------------------------------------- aggregation


def _label_columns() -> list[str]:
    columns: list[str] = []
    for a in ATTRIBUTES:
        columns += [a, f"{a}_yes", f"{a}_votes", f"{a}_tie"]
    return columns + ["annotators"]


def _check_votes(votes: pd.DataFrame) -> None:
    if not isinstance(votes, pd.DataFrame):
        raise VPBenchError(f"votes must be a pandas DataFrame, got {type(votes).__name__}")
    missing = [c for c in ("key", "annotator", "attribute", "vote") if c not in votes.columns]
    if missing:
        raise VPBenchError(f"votes table lacks column(s) {', '.join(missing)}")
    unknown = sorted(set(votes["attribute"].astype(str)) - set(ATTRIBUTES))
    if unknown:
        raise unknown_name_error("attribute", unknown[0], ATTRIBUTES)
    vote = pd.to_numeric(votes["vote"], errors="coerce")
    if not vote.isin([0, 1]).all():
        row = votes.loc[~vote.isin([0, 1])].iloc[0]
        # A cell of a pandas column is a numpy scalar, whose repr (np.int64(2)) means nothing to a user.
        raise VPBenchError(
            f"votes must be 0 or 1, found {_plain(row['vote'])!r} ({row['attribute']} of video '{row['key']}')"
        )
    dup = votes.duplicated(["key", "annotator", "attribute"], keep=False)
    if dup.any():
        row = votes.loc[dup].iloc[0]
        raise VPBenchError(
            f"annotator '{row['annotator']}' votes more than once on {row['attribute']} of video '{row['key']}'"
        )


def _plain(value: object) -> object:
    """A numpy scalar as the Python number it holds (its repr is then 2, not np.int64(2))."""
    return value.item() if isinstance(value, np.generic) else value


def aggregate_votes(votes: pd.DataFrame, tie_policy: str = DEFAULT_TIE_POLICY) -> Aggregate:
    """Majority-vote labels per video and attribute, with agreement statistics.

    A tie (as many yes as no votes) is resolved by ``tie_policy``: "positive"
    (the default) labels it 1, identifiable, because calling a privacy
    attribute absent when half of the annotators saw it would let a method be
    scored as protecting what it never removed; "negative" labels it 0. A
    video with no vote at all for some attribute is an error: a benchmark
    label cannot be invented.
    """
    if tie_policy not in TIE_POLICIES:
        raise unknown_name_error("tie policy", str(tie_policy), TIE_POLICIES)
    _check_votes(votes)
    notes: list[str] = []
    frame = pd.DataFrame(
        {
            "key": votes["key"].astype(str).to_numpy(dtype=object),
            "annotator": votes["annotator"].astype(str).to_numpy(dtype=object),
            "attribute": votes["attribute"].astype(str).to_numpy(dtype=object),
            "vote": pd.to_numeric(votes["vote"]).to_numpy(dtype=np.int64),
        }
    )
    keys = sorted(set(frame["key"]))
    index = pd.Index(keys, name="key", dtype=object)
    attr_pos = {a: j for j, a in enumerate(ATTRIBUTES)}
    key_pos = {k: i for i, k in enumerate(keys)}
    rows = frame["key"].map(key_pos).to_numpy(dtype=np.int64)
    cols = frame["attribute"].map(attr_pos).to_numpy(dtype=np.int64)

    yes = np.zeros((len(keys), len(ATTRIBUTES)), dtype=np.int64)
    n = np.zeros_like(yes)
    np.add.at(yes, (rows, cols), frame["vote"].to_numpy())
    np.add.at(n, (rows, cols), 1)

    unvoted = np.argwhere(n == 0)
    if len(unvoted):
        i, j = unvoted[0]
        more = f" (and {len(unvoted) - 1} more)" if len(unvoted) > 1 else ""
        raise VPBenchError(
            f"no vote for attribute {ATTRIBUTES[j]} of video '{keys[i]}'{more}; a label cannot be invented"
        )

    tie = 2 * yes == n
    label = np.where(tie, 1 if tie_policy == "positive" else 0, (2 * yes > n).astype(np.int64))

    data: dict[str, np.ndarray] = {}
    for j, a in enumerate(ATTRIBUTES):
        data[a] = label[:, j].astype(np.int64)
        data[f"{a}_yes"] = yes[:, j]
        data[f"{a}_votes"] = n[:, j]
        data[f"{a}_tie"] = tie[:, j].astype(bool)
    annotators = frame.groupby("key")["annotator"].nunique()
    data["annotators"] = annotators.reindex(keys).to_numpy(dtype=np.int64) if keys else np.zeros(0, np.int64)
    labels = pd.DataFrame(data, index=index, columns=_label_columns())

    if tie.any():
        per_attr = ", ".join(f"{a} {int(tie[:, j].sum())}" for j, a in enumerate(ATTRIBUTES) if tie[:, j].any())
        notes.append(f"{int(tie.sum())} tie(s) resolved as {tie_policy} ({per_attr})")

    kappas: dict[str, float | None] = {}
    for j, a in enumerate(ATTRIBUTES):
        if not keys:
            kappas[a] = None
            notes.append(f"Fleiss' kappa for {a} is undefined: there are no votes")
            continue
        table = np.stack([n[:, j] - yes[:, j], yes[:, j]], axis=1)
        value, why, left_out = _kappa_varying(table)
        kappas[a] = value
        if why:
            notes.append(f"Fleiss' kappa for {a} is undefined: {why}")
        elif left_out:
            notes.append(f"Fleiss' kappa for {a} leaves out {left_out} video(s) with a single vote")

    agreement: dict[str, dict[str, float | int]] = {}
    if keys:
        agrees = label[rows, cols] == frame["vote"].to_numpy()
        stats = pd.DataFrame({"annotator": frame["annotator"], "agree": agrees}).groupby("annotator")["agree"]
        for annotator, count, share in zip(stats.count().index, stats.count(), stats.mean()):
            agreement[str(annotator)] = {"votes": int(count), "agreement": float(share)}

    return Aggregate(
        labels=labels, fleiss_kappa=kappas, annotator_agreement=agreement, tie_policy=tie_policy, notes=notes
    )
