"""The Label Studio importer on an export recorded from a real server (annotation/example-export.json).

The export was made by tests/helpers/record_labelstudio_example.py against Label
Studio 1.23.2: three annotators (users 2, 3, 4) on three tiny VP-Synth videos,
with a skipped task, a task annotated twice by one annotator, an annotation
edited after submission, an answer left out and a tie. The same file checks
that VP-Synth's simulated export has the real export's fields.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.tiny import REPO
from vpbench.core.attributes import ATTRIBUTES
from vpbench.data.builder import build_dataset, load_labels, load_manifest
from vpbench.data.labels import aggregate_votes, read_labelstudio_export

EXAMPLE = REPO / "annotation" / "example-export.json"
JUMP, STAND, WAVE = "jump/vpsynth_jump_000", "stand_up/vpsynth_stand_up_000", "wave/vpsynth_wave_000"

# The votes each annotator's latest, not cancelled annotation gives (face, skin_color, gender, nudity, relationship);
# None: no vote. See EXAMPLE_SCENARIO in tests/helpers/record_labelstudio_example.py.
EXPECTED_VOTES = {
    (JUMP, "user2"): (0, 0, 1, 0, 0),
    (JUMP, "user3"): (0, 0, 1, 0, 0),
    (JUMP, "user4"): (0, 0, 0, 0, 0),
    (STAND, "user2"): (1, 1, 0, 1, 1),
    (STAND, "user3"): (1, 0, 0, 1, 1),  # the second of two annotations; the first said face no, skin yes
    (WAVE, "user2"): (0, 1, 1, 1, 0),  # edited after submission: the first version said face yes
    (WAVE, "user3"): (0, 1, 1, 1, None),  # left relationship out
    (WAVE, "user4"): (0, 1, 1, 0, 0),
}


def _votes_dict(votes) -> dict:
    table = {}
    for (key, annotator), group in votes.groupby(["key", "annotator"]):
        by_attr = dict(zip(group["attribute"], group["vote"]))
        table[(key, annotator)] = tuple(None if a not in by_attr else int(by_attr[a]) for a in ATTRIBUTES)
    return table


def _kappa(counts: list[tuple[int, int]]) -> float:
    """Fleiss' kappa written out for (yes, votes) per video, videos with one vote left out."""
    rows = [(yes, n) for yes, n in counts if n >= 2]
    agreement = [(yes * yes + (n - yes) ** 2 - n) / (n * (n - 1)) for yes, n in rows]
    p_bar = sum(agreement) / len(agreement)
    p_yes = sum(yes for yes, _ in rows) / sum(n for _, n in rows)
    p_e = p_yes**2 + (1 - p_yes) ** 2
    return (p_bar - p_e) / (1 - p_e)


def _expected_counts(votes: dict) -> dict[str, dict[str, tuple[int, int]]]:
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    for j, attribute in enumerate(ATTRIBUTES):
        for video in (JUMP, STAND, WAVE):
            given = [v[j] for (key, _), v in votes.items() if key == video and v[j] is not None]
            counts.setdefault(attribute, {})[video] = (sum(given), len(given))
    return counts


def test_recorded_export_comes_from_a_real_server():
    tasks = json.loads(EXAMPLE.read_text())
    assert len(tasks) == 3 and all(t["data"]["video"].startswith("/data/local-files/?d=") for t in tasks)
    annotations = [a for t in tasks for a in t["annotations"]]
    assert {a["completed_by"] for a in annotations} == {2, 3, 4}
    assert sum(a["was_cancelled"] for a in annotations) == 1
    assert all(len(a["unique_id"]) == 36 for a in annotations)  # server-made UUIDs


def test_votes_from_the_recorded_export():
    result = read_labelstudio_export(EXAMPLE)
    assert _votes_dict(result.votes) == EXPECTED_VOTES
    assert list(result.votes.columns) == ["key", "annotator", "attribute", "vote"]


def test_skipped_task_gives_no_vote():
    votes = read_labelstudio_export(EXAMPLE).votes
    assert (STAND, "user4") not in _votes_dict(votes)
    assert set(votes.loc[votes.key == STAND, "annotator"]) == {"user2", "user3"}


def test_task_annotated_twice_by_one_annotator_counts_the_latest_once():
    result = read_labelstudio_export(EXAMPLE)
    stand = result.votes[(result.votes.key == STAND) & (result.votes.annotator == "user3")]
    assert len(stand) == len(ATTRIBUTES)
    assert any(f"user3 annotated video '{STAND}' 2 times" in w and "the latest" in w for w in result.warnings)


def test_missing_attribute_is_no_vote_with_a_warning():
    result = read_labelstudio_export(EXAMPLE)
    assert any(f"by user3 (video '{WAVE}') has no vote for relationship" in w for w in result.warnings)
    agg = aggregate_votes(result.votes)
    assert agg.labels.loc[WAVE, "relationship_votes"] == 2 and agg.labels.loc[WAVE, "face_votes"] == 3


def test_tie_and_majority_under_both_policies():
    votes = read_labelstudio_export(EXAMPLE).votes
    positive, negative = aggregate_votes(votes), aggregate_votes(votes, tie_policy="negative")
    assert positive.labels.loc[STAND, "skin_color_tie"] and positive.labels.loc[STAND, "skin_color_yes"] == 1
    assert (positive.labels.loc[STAND, "skin_color"], negative.labels.loc[STAND, "skin_color"]) == (1, 0)
    ties = positive.labels[[f"{a}_tie" for a in ATTRIBUTES]].to_numpy()
    assert ties.sum() == 1
    expected = {JUMP: (0, 0, 1, 0, 0), STAND: (1, 1, 0, 1, 1), WAVE: (0, 1, 1, 1, 0)}
    for video, labels in expected.items():
        assert tuple(int(positive.labels.loc[video, a]) for a in ATTRIBUTES) == labels
    counts = _expected_counts(EXPECTED_VOTES)
    for attribute in ATTRIBUTES:
        assert positive.fleiss_kappa[attribute] == pytest.approx(_kappa(list(counts[attribute].values())))


def test_several_exports_the_one_given_last_wins(tmp_path):
    tasks = json.loads(EXAMPLE.read_text())
    first = tmp_path / "round1.json"
    first.write_text(json.dumps(tasks))
    # A second round exported from another project: annotator 4 now sees a face in the jump video.
    second_round = copy.deepcopy([t for t in tasks if t["data"]["video_id"] == JUMP])
    for ann in second_round[0]["annotations"]:
        if ann["completed_by"] == 4:
            for r in ann["result"]:
                if r["from_name"] == "face":
                    r["value"]["choices"] = ["yes"]
    second = tmp_path / "round2.json"
    second.write_text(json.dumps(second_round))
    labels = load_labels([first, second], "labelstudio", None)
    votes = _votes_dict(labels.votes)
    assert votes[(JUMP, "user4")] == (1, 0, 0, 0, 0)
    assert votes[(STAND, "user2")] == EXPECTED_VOTES[(STAND, "user2")]
    assert any("file given last wins" in w for w in labels.warnings)
    assert [i["file"] for i in labels.inputs] == ["round1.json", "round2.json"]


@pytest.fixture(scope="module")
def tiny_synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "synth-hmdb51"
    build_dataset("synth-hmdb51", out, size="tiny", seed=0, progress=False, workers=1)
    return out


def test_build_from_the_recorded_export_records_votes_and_agreement(tiny_synth, tmp_path):
    result = build_dataset(
        "vp-hmdb51",
        tmp_path / "built",
        raw=tiny_synth / "raw",
        splits=tiny_synth / "splits",
        labels=[EXAMPLE],
        label_format="labelstudio",
        progress=False,
        workers=1,
    )
    m = result.manifest.set_index("video_id")
    assert sorted(m.index) == sorted([JUMP, STAND, WAVE])
    assert tuple(int(m.loc[STAND, a]) for a in ATTRIBUTES) == (1, 1, 0, 1, 1)
    assert bool(m.loc[STAND, "skin_color_tie"]) and int(m.loc[STAND, "skin_color_votes"]) == 2
    assert int(m.loc[WAVE, "annotators"]) == 3 and int(m.loc[STAND, "annotators"]) == 2
    agreement = result.info["agreement"]
    assert agreement["ties"]["skin_color"] == 1 and set(agreement["annotators"]) == {"user2", "user3", "user4"}
    counts = _expected_counts(EXPECTED_VOTES)
    for attribute in ATTRIBUTES:
        assert agreement["fleiss_kappa"][attribute] == pytest.approx(_kappa(list(counts[attribute].values())))
    # The other synthetic videos have no vote in this export: reported, not built.
    unlabelled = [r for r in result.report["skipped"] if r["reason"] == "no privacy label for this video"]
    assert len(unlabelled) == len(load_manifest(tiny_synth)) - 3


def test_synthetic_export_has_the_real_exports_fields(tiny_synth):
    real = json.loads(EXAMPLE.read_text())
    synth = json.loads((tiny_synth / "annotations" / "labelstudio-export.json").read_text())

    def fields(tasks, pick):
        return {k for t in tasks for item in pick(t) for k in item}

    assert fields(synth, lambda t: [t]) == fields(real, lambda t: [t])
    assert fields(synth, lambda t: t["annotations"]) == fields(real, lambda t: t["annotations"])
    results = lambda t: [r for a in t["annotations"] for r in a["result"]]  # noqa: E731
    assert fields(synth, results) == fields(real, results)
    assert set(synth[0]["data"]) == set(real[0]["data"]) == {"video", "video_id"}
    # Same JSON types wherever the real export has a value (null-valued fields aside).
    real_ann = next(a for t in real for a in t["annotations"] if not a["was_cancelled"])
    synth_ann = next(a for t in synth for a in t["annotations"] if not a["was_cancelled"])
    for key, value in real_ann.items():
        if value is not None:
            assert type(synth_ann[key]) is type(value), key
    for key, value in real[0].items():
        if value is not None and key != "annotations":
            assert type(synth[0][key]) is type(value), key
    assert real_ann["result"][0].keys() == synth_ann["result"][0].keys()
    stamp = real_ann["created_at"]
    assert len(synth_ann["created_at"]) == len(stamp) and synth_ann["created_at"].endswith("Z")
    assert np.all([len(a["unique_id"]) == 36 for t in synth for a in t["annotations"]])
