import pytest

from vpbench.core.errors import VPBenchError
from vpbench.data.layouts import (
    list_videos,
    read_hmdb51_splits,
    read_manifest_table,
    read_ucf101_splits,
    video_key,
)


def test_video_key_strips_extension_and_dot_slash():
    assert video_key("./brush_hair/a.b_c.mp4") == "brush_hair/a.b_c"
    assert video_key("Class\\v_Class_g01_c01.avi") == "Class/v_Class_g01_c01"


def test_hmdb51_split_files_with_trailing_spaces(tmp_path):
    (tmp_path / "brush_hair_test_split1.txt").write_text("a.avi 1 \nb.avi 2 \nc.avi 0 \n")
    (tmp_path / "brush_hair_test_split2.txt").write_text("a.avi 2 \nb.avi 1 \n")
    (tmp_path / "ride_bike_test_split1.txt").write_text("d.avi 1\n")
    table, warnings = read_hmdb51_splits(tmp_path)
    rows = {r.file: r for r in table.itertuples()}
    assert rows["brush_hair/a.avi"].split_1 == "train" and rows["brush_hair/a.avi"].split_2 == "test"
    assert rows["brush_hair/c.avi"].split_1 == "unused" and rows["brush_hair/c.avi"].split_2 == "unused"
    assert rows["ride_bike/d.avi"].action == "ride_bike"
    assert warnings == []


def test_hmdb51_duplicate_line_warns_and_conflict_fails(tmp_path):
    (tmp_path / "x_test_split1.txt").write_text("a.avi 1\na.avi 1\n")
    _, warnings = read_hmdb51_splits(tmp_path)
    assert len(warnings) == 1 and "duplicate" in warnings[0]
    (tmp_path / "x_test_split1.txt").write_text("a.avi 1\na.avi 2\n")
    with pytest.raises(VPBenchError, match="twice with different splits"):
        read_hmdb51_splits(tmp_path)
    (tmp_path / "x_test_split1.txt").write_text("a.avi 7\n")
    with pytest.raises(VPBenchError, match=r"x_test_split1.txt:1"):
        read_hmdb51_splits(tmp_path)


def test_ucf101_lists_with_crlf(tmp_path):
    (tmp_path / "classInd.txt").write_bytes(b"1 ApplyEyeMakeup\r\n2 Archery\r\n")
    (tmp_path / "trainlist01.txt").write_bytes(
        b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\nArchery/v_Archery_g08_c01.avi 2\r\n"
    )
    (tmp_path / "testlist01.txt").write_bytes(b"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\n")
    table, _ = read_ucf101_splits(tmp_path)
    assert list(table["file"]) == [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
        "Archery/v_Archery_g08_c01.avi",
    ]
    assert list(table["split_1"]) == ["test", "train", "train"]


def test_ucf101_wrong_label_is_an_error(tmp_path):
    (tmp_path / "classInd.txt").write_text("1 A\n2 B\n")
    (tmp_path / "trainlist01.txt").write_text("A/v_A_g01_c01.avi 2\n")
    (tmp_path / "testlist01.txt").write_text("")
    with pytest.raises(VPBenchError, match="does not match class 'A'"):
        read_ucf101_splits(tmp_path)


def test_real_ucf101_split_lists(reference):
    table, warnings = read_ucf101_splits(reference / "ucf101-splits" / "ucfTrainTestlist")
    assert len(table) == 13320 and table["action"].nunique() == 101
    assert (table["split_1"] == "train").sum() == 9537 and (table["split_1"] == "test").sum() == 3783
    assert warnings == []


def test_manifest_table_csv_and_split_values(tmp_path):
    (tmp_path / "m.csv").write_text("path,action,split,face\nv/a.mp4,run,train,1\nv/b.mp4,walk,test,0\n")
    table = read_manifest_table(tmp_path / "m.csv")
    assert list(table["split_1"]) == ["train", "test"]
    (tmp_path / "bad.csv").write_text("path,action,split\nv/a.mp4,run,validation\n")
    with pytest.raises(VPBenchError, match="validation"):
        read_manifest_table(tmp_path / "bad.csv")
    (tmp_path / "nopath.csv").write_text("file,action,split\n")
    with pytest.raises(VPBenchError, match="no 'path' column"):
        read_manifest_table(tmp_path / "nopath.csv")


def test_list_videos_sorted_relative(tmp_path):
    for name in ["b/2.avi", "a/1.mp4", "a/.hidden.avi", "a/notes.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert list_videos(tmp_path) == ["a/1.mp4", "b/2.avi"]


def test_the_folder_scan_and_the_label_keys_agree_on_what_a_video_is(tmp_path):
    from vpbench.core.files import VIDEO_EXTENSIONS
    from vpbench.data import video
    from vpbench.data.labels.importers import normalize_key

    assert video.VIDEO_EXTENSIONS is VIDEO_EXTENSIONS  # one list
    for ext in VIDEO_EXTENSIONS:
        (tmp_path / f"clip{ext.upper()}").write_bytes(b"x")
    (tmp_path / "clip.txt").write_bytes(b"x")
    found = list_videos(tmp_path)
    assert len(found) == len(VIDEO_EXTENSIONS) and "clip.txt" not in found
    # Every file the scan finds is the video its labels name, whatever the suffix.
    assert {video_key(f) for f in found} == {normalize_key(f) for f in found} == {"clip"}
