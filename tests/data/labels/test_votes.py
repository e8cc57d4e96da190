"""Majority voting, tie policies, Fleiss' kappa and annotator agreement."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from vpbench.core.attributes import ATTRIBUTES
from vpbench.core.errors import VPBenchError
from vpbench.data.labels import (
    DEFAULT_TIE_POLICY,
    TIE_POLICIES,
    aggregate_votes,
    fleiss_kappa,
    fleiss_kappa_varying,
)

# Fleiss (1971) / Wikipedia worked example: 10 subjects, 14 raters, 5 categories.
WIKIPEDIA = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def _brute_force_kappa(table: np.ndarray) -> float:
    """Kappa from explicit ratings: pairwise agreement vs. chance, no closed forms."""
    items = [[category for category, count in enumerate(row) for _ in range(count)] for row in table if row.sum() >= 2]
    agreements = []
    for ratings in items:
        pairs = list(itertools.permutations(range(len(ratings)), 2))
        agreements.append(sum(ratings[r] == ratings[s] for r, s in pairs) / len(pairs))
    everything = [c for ratings in items for c in ratings]
    shares = [everything.count(c) / len(everything) for c in range(table.shape[1])]
    chance = sum(s * s for s in shares)
    return (sum(agreements) / len(agreements) - chance) / (1 - chance)


def test_fleiss_kappa_wikipedia_example():
    assert fleiss_kappa(WIKIPEDIA) == pytest.approx(0.210, abs=5e-4)
    assert fleiss_kappa_varying(WIKIPEDIA) == pytest.approx(fleiss_kappa(WIKIPEDIA), abs=1e-12)
    assert _brute_force_kappa(WIKIPEDIA) == pytest.approx(fleiss_kappa(WIKIPEDIA), abs=1e-12)


def test_fleiss_kappa_matches_brute_force_on_random_tables():
    rng = np.random.default_rng(0)
    for _ in range(60):
        items, categories, raters = rng.integers(2, 12), rng.integers(2, 5), rng.integers(2, 8)
        table = np.stack([rng.multinomial(raters, rng.dirichlet(np.ones(categories))) for _ in range(items)])
        if np.any(table.sum(axis=0) == table.sum()):
            assert math.isnan(fleiss_kappa(table))
            continue
        expected = _brute_force_kappa(table)
        assert fleiss_kappa(table) == pytest.approx(expected, abs=1e-12)
        # With equal rater counts the varying-raters form is the same statistic.
        assert fleiss_kappa_varying(table) == pytest.approx(fleiss_kappa(table), abs=1e-12)


def test_fleiss_kappa_varying_matches_brute_force():
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(60):
        items, categories = rng.integers(2, 12), rng.integers(2, 4)
        table = np.stack(
            [rng.multinomial(rng.integers(1, 7), rng.dirichlet(np.ones(categories))) for _ in range(items)]
        )
        usable = table[table.sum(axis=1) >= 2]
        if len(usable) == 0 or np.any(usable.sum(axis=0) == usable.sum()):
            assert math.isnan(fleiss_kappa_varying(table))
            continue
        assert fleiss_kappa_varying(table) == pytest.approx(_brute_force_kappa(table), abs=1e-12)
        checked += 1
    assert checked > 30


def test_fleiss_kappa_edge_cases():
    assert math.isnan(fleiss_kappa([[3, 0], [3, 0]]))
    assert fleiss_kappa([[2, 0], [0, 2]]) == pytest.approx(1.0)
    with pytest.raises(VPBenchError, match="same number of raters"):
        fleiss_kappa([[2, 1], [1, 1]])
    with pytest.raises(VPBenchError, match="at least two raters"):
        fleiss_kappa([[1, 0], [0, 1]])
    with pytest.raises(VPBenchError, match="non-negative whole-number"):
        fleiss_kappa([[1.5, 0.5], [1, 1]])
    assert math.isnan(fleiss_kappa_varying([[1, 0], [0, 1]]))


def _votes(rows):
    return pd.DataFrame(rows, columns=["key", "annotator", "attribute", "vote"])


def _full(key, annotator, **votes):
    return [(key, annotator, a, votes.get(a, 0)) for a in ATTRIBUTES]


def test_default_tie_policy_is_positive():
    assert TIE_POLICIES == ("positive", "negative")
    assert DEFAULT_TIE_POLICY == "positive"
    votes = _votes(_full("v", "a", face=1) + _full("v", "b"))
    assert aggregate_votes(votes).labels.loc["v", "face"] == 1
    assert aggregate_votes(votes).tie_policy == "positive"
    assert aggregate_votes(votes, "negative").labels.loc["v", "face"] == 0
    assert any("1 tie(s) resolved as positive" in note for note in aggregate_votes(votes).notes)


def test_aggregate_labels_counts_and_agreement():
    rows = (
        _full("k2", "a", face=1, gender=1)
        + _full("k2", "b", face=1)
        + _full("k2", "c", gender=1, nudity=1)
        + _full("k1", "a", face=1)
        + _full("k1", "b", face=1)
        + _full("k1", "c", face=1)
    )
    agg = aggregate_votes(_votes(rows))
    labels = agg.labels
    assert list(labels.index) == ["k1", "k2"]
    assert labels.index.name == "key"
    expected_columns = [c for a in ATTRIBUTES for c in (a, f"{a}_yes", f"{a}_votes", f"{a}_tie")] + ["annotators"]
    assert list(labels.columns) == expected_columns
    assert labels.loc["k2", "face"] == 1 and labels.loc["k2", "face_yes"] == 2 and labels.loc["k2", "face_votes"] == 3
    assert labels.loc["k2", "gender"] == 1 and labels.loc["k2", "nudity"] == 0
    assert labels.loc["k2", "annotators"] == 3
    assert not labels[[f"{a}_tie" for a in ATTRIBUTES]].to_numpy().any()
    assert labels["face_tie"].dtype == bool and labels["face"].dtype.kind == "i"

    # a agrees on all 10 votes; b misses gender on k2; c misses face and nudity on k2.
    assert agg.annotator_agreement == {
        "a": {"votes": 10, "agreement": 1.0},
        "b": {"votes": 10, "agreement": 0.9},
        "c": {"votes": 10, "agreement": 0.8},
    }

    for j, a in enumerate(ATTRIBUTES):
        yes = labels[f"{a}_yes"].to_numpy()
        table = np.stack([labels[f"{a}_votes"].to_numpy() - yes, yes], axis=1)
        expected = fleiss_kappa_varying(table)
        if math.isnan(expected):
            assert agg.fleiss_kappa[a] is None
            assert any(f"kappa for {a} is undefined" in note for note in agg.notes)
        else:
            assert agg.fleiss_kappa[a] == pytest.approx(expected)
    # skin_color and relationship are all "no": chance agreement is 1.
    assert agg.fleiss_kappa["skin_color"] is None
    assert agg.fleiss_kappa["face"] is not None


def test_kappa_with_varying_raters_and_single_votes():
    rows = _full("a", "x", face=1) + _full("a", "y", face=1) + _full("b", "x") + _full("b", "y", face=1)
    rows += _full("b", "z", face=1) + _full("c", "x", face=1)
    agg = aggregate_votes(_votes(rows))
    table = np.array([[0, 2], [1, 2]])
    assert agg.fleiss_kappa["face"] == pytest.approx(fleiss_kappa_varying(table))
    assert agg.fleiss_kappa["face"] == pytest.approx(_brute_force_kappa(table))
    assert any("face leaves out 1 video(s) with a single vote" in note for note in agg.notes)
    single = aggregate_votes(_votes(_full("a", "x", face=1) + _full("b", "x")))
    assert single.fleiss_kappa == {a: None for a in ATTRIBUTES}
    assert any("no item has two or more ratings" in note for note in single.notes)


def test_aggregate_errors():
    rows = _full("v", "a")[:-1]
    with pytest.raises(VPBenchError, match="no vote for attribute relationship of video 'v'"):
        aggregate_votes(_votes(rows))
    with pytest.raises(VPBenchError, match="did you mean 'positive'"):
        aggregate_votes(_votes(_full("v", "a")), tie_policy="postive")
    with pytest.raises(VPBenchError, match="votes more than once on face"):
        aggregate_votes(_votes(_full("v", "a") + [("v", "a", "face", 1)]))
    with pytest.raises(VPBenchError, match="votes must be 0 or 1"):
        aggregate_votes(_votes(_full("v", "a", face=2)))
    with pytest.raises(VPBenchError, match="unknown attribute 'fcae'"):
        aggregate_votes(_votes(_full("v", "a") + [("v", "a", "fcae", 1)]))


def test_aggregate_empty_votes():
    agg = aggregate_votes(_votes([]))
    assert agg.labels.empty
    assert agg.fleiss_kappa == {a: None for a in ATTRIBUTES}
    assert agg.annotator_agreement == {}
