import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, f1_score

from vpbench.core.errors import VPBenchError
from vpbench.evaluation.metrics import (
    action_top1,
    bootstrap_ci,
    privacy_cmap,
    privacy_f1,
    privacy_scores,
)


def test_action_top1_hand_made():
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert action_top1(scores, [0, 1, 1, 1]) == 0.75


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_scikit_learn_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    n, c, p = 60, 7, 5
    scores = rng.random((n, c))
    labels = rng.integers(0, c, n)
    assert action_top1(scores, labels) == pytest.approx(accuracy_score(labels, scores.argmax(1)))
    probs = rng.random((n, p))
    truth = (rng.random((n, p)) < 0.4).astype(int)
    truth[0] = 1  # every attribute has a positive
    expected_f1 = np.mean([f1_score(truth[:, j], probs[:, j] >= 0.5) for j in range(p)])
    expected_map = 100 * np.mean([average_precision_score(truth[:, j], probs[:, j]) for j in range(p)])
    assert privacy_f1(probs, truth) == pytest.approx(expected_f1)
    assert privacy_cmap(probs, truth) == pytest.approx(expected_map)


def test_hand_made_privacy_values():
    probs = np.array([[0.9, 0.2], [0.4, 0.6], [0.7, 0.1], [0.1, 0.3]])
    truth = np.array([[1, 0], [1, 1], [0, 0], [0, 1]])
    # attribute 0: pred [1,0,1,0] vs [1,1,0,0]: tp 1 fp 1 fn 1 -> F1 0.5; AP: ranks .9(+) .7(-) .4(+) -> (1 + 2/3)/2
    # attribute 1: pred [0,1,0,0] vs [0,1,0,1]: tp 1 fn 1 -> F1 2/3; AP: .6(+) .3(+) -> 1
    s = privacy_scores(probs, truth, ["a", "b"])
    assert s["per_attribute"]["a"]["f1"] == pytest.approx(0.5)
    assert s["per_attribute"]["b"]["f1"] == pytest.approx(2 / 3)
    assert s["per_attribute"]["a"]["ap"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert s["cmap"] == pytest.approx((100 * 5 / 6 + 100) / 2)


def test_attribute_without_positives_is_reported_and_excluded():
    rng = np.random.default_rng(0)
    probs = rng.random((20, 3))
    truth = (rng.random((20, 3)) < 0.5).astype(int)
    truth[:, 1] = 0
    s = privacy_scores(probs, truth, ["face", "nudity", "gender"])
    assert s["excluded"] == ["nudity"]
    assert s["per_attribute"]["nudity"] == {"f1": None, "ap": None, "positives": 0}
    kept = [0, 2]
    assert s["cmap"] == pytest.approx(100 * np.mean([average_precision_score(truth[:, j], probs[:, j]) for j in kept]))
    with pytest.raises(VPBenchError, match="no privacy attribute has a positive"):
        privacy_scores(probs, np.zeros_like(truth))


def test_logits_are_refused():
    with pytest.raises(VPBenchError, match="probabilities"):
        privacy_f1(np.array([[2.0, -1.0]]), np.array([[1, 0]]))


def test_bootstrap_interval_brackets_the_value_and_is_seeded():
    rng = np.random.default_rng(1)
    scores, labels = rng.random((200, 4)), rng.integers(0, 4, 200)
    value = action_top1(scores, labels)
    low, high = bootstrap_ci(action_top1, [scores, labels], n_boot=300, seed=0)
    assert low <= value <= high and high - low < 0.2
    assert (low, high) == bootstrap_ci(action_top1, [scores, labels], n_boot=300, seed=0)


def test_bootstrap_of_a_tuple_metric_equals_separate_bootstraps():
    rng = np.random.default_rng(2)
    probs, truth = rng.random((60, 5)), (rng.random((60, 5)) < 0.4).astype(int)
    both = bootstrap_ci(lambda p, t: (privacy_f1(p, t), privacy_cmap(p, t)), [probs, truth], n_boot=100, seed=3)
    assert both == [
        bootstrap_ci(privacy_f1, [probs, truth], n_boot=100, seed=3),
        bootstrap_ci(privacy_cmap, [probs, truth], n_boot=100, seed=3),
    ]


def test_per_action_top1_names_each_class_and_where_its_errors_go():
    from vpbench.evaluation.metrics import per_action_top1

    scores = np.eye(3)[[0, 0, 1, 2, 2, 1]]  # class 0 right twice; class 1: right, wrong (->2); class 2: 2 right
    labels = [0, 0, 1, 1, 2, 2]
    scores[5] = np.eye(3)[1]  # class 2's second video goes to class 1
    got = per_action_top1(scores, labels, ["a", "b", "c"])
    assert got == {
        "a": {"top1": 1.0, "videos": 2},
        "b": {"top1": 0.5, "videos": 2, "most_confused_with": "c"},
        "c": {"top1": 0.5, "videos": 2, "most_confused_with": "b"},
    }


def test_average_precision_equals_scikit_learn_with_ties_and_few_positives():
    from vpbench.evaluation.metrics import _ap

    rng = np.random.default_rng(0)
    for case in range(300):
        n = int(rng.integers(1, 40))
        truth = rng.random(n) < rng.uniform(0.05, 0.9)
        truth[int(rng.integers(0, n))] = True  # AP needs a positive
        prob = rng.random(n).round(int(rng.integers(0, 3)))  # rounding makes ties
        assert _ap(prob, truth) == pytest.approx(average_precision_score(truth, prob), abs=1e-12), case
