"""The val split: carved from train per action, seeded, recorded; manifests may give their own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.helpers.tiny import gradient_frames
from vpbench.core.attributes import ATTRIBUTES
from vpbench.core.errors import VPBenchError
from vpbench.data.builder import build_dataset, carve_val, check_val_share
from vpbench.data.video import write_video


def _train_only(per_action: dict[str, int]) -> tuple[pd.Series, pd.Series]:
    actions = [a for a, n in per_action.items() for _ in range(n)]
    return pd.Series(["train"] * len(actions)), pd.Series(actions)


def test_carve_val_takes_the_share_of_each_action_and_keeps_one_train_video():
    split, actions = _train_only({"a": 10, "b": 5, "c": 2, "d": 1})
    out = carve_val(split, actions, 0.2, seed=0, fold=1)
    counts = pd.crosstab(actions, out)
    assert counts.loc["a", "val"] == 2 and counts.loc["a", "train"] == 8
    assert counts.loc["b", "val"] == 1 and counts.loc["b", "train"] == 4
    # at least one val video (round(0.4) = 0 for two), at least one train video: a lone video stays train
    assert counts.loc["c", "val"] == 1 and counts.loc["c", "train"] == 1 and counts.loc["d", "train"] == 1
    assert set(out) == {"train", "val"}


def test_carve_val_never_touches_test_or_unused_and_leaves_the_input_alone():
    split = pd.Series(["train"] * 6 + ["test"] * 4 + ["unused"] * 2)
    actions = pd.Series(["a"] * 12)
    before = split.copy()
    out = carve_val(split, actions, 0.5, seed=3, fold=2)
    assert split.equals(before)
    assert (out[6:] == before[6:]).all()
    assert (out[:6] == "val").sum() == 3


def test_carve_val_is_seeded_per_fold_and_does_not_depend_on_other_actions():
    split, actions = _train_only({"a": 20, "b": 20})
    one = carve_val(split, actions, 0.25, seed=0, fold=1)
    assert one.equals(carve_val(split, actions, 0.25, seed=0, fold=1))
    assert not one.equals(carve_val(split, actions, 0.25, seed=1, fold=1))
    assert not one.equals(carve_val(split, actions, 0.25, seed=0, fold=2))
    # action "a" alone gets the same val videos as beside "b"
    alone = carve_val(split[:20], actions[:20], 0.25, seed=0, fold=1)
    assert alone.equals(one[:20])


def test_group_numbers_move_whole_across_actions():
    split, actions = _train_only({"a": 12, "b": 12})
    groups = pd.Series([(i % 12) // 3 for i in range(24)])  # group numbers 0-3, three clips each, in both actions
    out = carve_val(split, actions, 0.25, seed=0, fold=1, groups=groups)
    assert (out.groupby(groups).nunique() == 1).all()  # a group number is val in every action or in none
    assert pd.crosstab(actions, out)["val"].tolist() == [3, 3]


def test_ucf101_groups_are_read_from_the_video_ids():
    from vpbench.data.builder import _val_groups

    ids = pd.Series(["ArmCircles/v_ArmCircles_g08_c01", "Fencing/v_Fencing_g10_c04"])
    assert _val_groups(ids, "ucf101").tolist() == [8, 10]
    assert _val_groups(ids, "hmdb51") is None
    assert _val_groups(pd.Series(["mine/clip1"]), "ucf101") is None


def test_a_share_of_zero_carves_nothing():
    split, actions = _train_only({"a": 10})
    assert carve_val(split, actions, 0.0, seed=0, fold=1).equals(split)


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5, True, "0.2"])
def test_a_bad_share_is_a_one_line_error(share):
    with pytest.raises(VPBenchError, match="--val-share must be a fraction in \\[0, 1\\)"):
        check_val_share(share)


def test_vp_synth_builds_have_a_val_split_recorded_in_info(tmp_path):
    result = build_dataset("synth-ucf101", tmp_path / "s", size="tiny", seed=2, progress=False)
    m, info = result.manifest, result.info
    assert info["val"] == {
        "share": 0.2,
        "seed": 2,
        "stratified_by": "action",
        "carved_from": "train",
        "unit": "group",
    }
    for column, sizes in info["splits"].items():
        assert sizes["val"] == int((m[column] == "val").sum()) > 0
        # every action has train and val videos; a UCF101 group (actor and scene) is in one part only
        by_action = pd.crosstab(m["action"], m[column])
        assert (by_action["train"] >= 1).all() and (by_action["val"] >= 1).all()
        group = m["video_id"].str.extract(r"_g(\d+)_", expand=False)  # one actor and scene in every action
        assert (m.groupby(group)[column].nunique() == 1).all()
    again = build_dataset("synth-ucf101", tmp_path / "t", size="tiny", seed=2, progress=False).manifest
    assert np.array_equal(again["split_1"].to_numpy(), m["split_1"].to_numpy())
    none = build_dataset("synth-ucf101", tmp_path / "u", size="tiny", seed=2, val_share=0.0, progress=False)
    assert (none.manifest["split_1"] != "val").all()
    assert set(none.manifest.loc[m["split_1"] == "val", "split_1"]) == {"train"}


def test_a_manifest_may_name_val_videos(tmp_path):
    for i in range(4):
        write_video(tmp_path / "videos" / f"v{i}.mp4", gradient_frames(18, seed=i), fps=30)
    pd.DataFrame(
        {
            "path": [f"videos/v{i}.mp4" for i in range(4)],
            "action": ["smile"] * 4,
            "split": ["train", "train", "val", "test"],
            **{a: [1, 0, 1, 0] for a in ATTRIBUTES},
        }
    ).to_csv(tmp_path / "m.csv", index=False)
    result = build_dataset("manifest", tmp_path / "out", manifest=tmp_path / "m.csv", progress=False, workers=1)
    assert list(result.manifest["split_1"]) == ["train", "train", "val", "test"]
    assert result.info["splits"]["split_1"] == {"train": 2, "val": 1, "test": 1, "unused": 0}
