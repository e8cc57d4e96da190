import numpy as np
import pytest

from tests.helpers.tiny import gradient_frames
from vpbench.core.errors import VPBenchError
from vpbench.data.video import (
    VideoError,
    probe_video,
    read_frames,
    read_video,
    write_video,
    write_video_windows,
)


def test_write_then_decode_gives_back_the_frames(tmp_path):
    frames = gradient_frames(12, 32, 64)
    path = write_video(tmp_path / "a.avi", frames, fps=25)
    info = probe_video(path)
    assert (info.num_frames, info.width, info.height, info.codec) == (12, 64, 32, "mpeg4")
    assert info.fps == pytest.approx(25.0)
    decoded = read_video(path)
    assert decoded.dtype == np.uint8 and decoded.shape == (12, 32, 64, 3)
    assert np.abs(decoded.astype(int) - frames.astype(int)).mean() < 6


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_read_frames_any_order_with_repeats_matches_between_backends(tmp_path, backend):
    path = write_video(tmp_path / "a.avi", gradient_frames(10), fps=25)
    full = read_frames(path, np.arange(10), backend="pyav")
    got = read_frames(path, [7, 2, 2, 9], backend=backend)
    assert got.shape == (4, 32, 64, 3)
    assert np.array_equal(got, full[[7, 2, 2, 9]])


def test_auto_backend_falls_back_to_pyav_where_decord_fails(tmp_path):
    # decord 0.6 cannot copy out frames 48 pixels wide; "auto" must still decode them.
    path = write_video(tmp_path / "w48.avi", gradient_frames(6, 32, 48), fps=25)
    got = read_frames(path, [0, 5], backend="auto")
    assert got.shape == (2, 32, 48, 3)
    assert np.array_equal(got, read_frames(path, [0, 5], backend="pyav"))


def test_odd_size_video_round_trips(tmp_path):
    path = write_video(tmp_path / "odd.avi", gradient_frames(5, 31, 45), fps=30)
    info = probe_video(path)
    assert (info.width, info.height, info.num_frames) == (45, 31, 5)


def test_encoding_is_deterministic(tmp_path):
    frames = gradient_frames(8)
    a = write_video(tmp_path / "a.avi", frames).read_bytes()
    b = write_video(tmp_path / "b.avi", frames).read_bytes()
    assert a == b


def test_empty_file_is_a_video_error(tmp_path):
    (tmp_path / "empty.avi").write_bytes(b"")
    with pytest.raises(VideoError, match="empty file"):
        probe_video(tmp_path / "empty.avi")


def test_text_file_named_avi_is_a_video_error(tmp_path):
    (tmp_path / "text.avi").write_text("this is not a video\n" * 20)
    with pytest.raises(VideoError, match="not a readable video|no video stream|no decodable frame"):
        probe_video(tmp_path / "text.avi")


def test_truncated_video_reports_only_decodable_frames_or_fails(tmp_path):
    path = write_video(tmp_path / "a.avi", gradient_frames(40, 64, 64), fps=25)
    data = path.read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 3])
    try:
        info = probe_video(tmp_path / "cut.avi")
    except VideoError:
        return
    assert info.num_frames < 40
    frames = read_frames(tmp_path / "cut.avi", np.arange(info.num_frames), backend="pyav")
    assert len(frames) == info.num_frames


def test_out_of_range_index_is_an_error(tmp_path):
    path = write_video(tmp_path / "a.avi", gradient_frames(5), fps=25)
    with pytest.raises(VideoError, match="out of range|past the decodable end"):
        read_frames(path, [5])


def test_write_video_rejects_bad_arrays_and_suffixes(tmp_path):
    with pytest.raises(VPBenchError):
        write_video(tmp_path / "a.avi", np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(VPBenchError, match="suffix"):
        write_video(tmp_path / "a.gif", np.zeros((3, 8, 8, 3), np.uint8))
    assert not list(tmp_path.iterdir())


def test_write_video_windows_encodes_h264_for_browsers_and_refuses_other_codecs(tmp_path):
    frames = gradient_frames(10, 32, 48)
    path = write_video_windows(tmp_path / "a.mp4", [frames[:4], frames[4:]], fps=25, codec="h264", expect_frames=10)
    info = probe_video(path)
    assert (info.num_frames, info.width, info.height, info.codec) == (10, 48, 32, "h264")
    assert np.abs(read_video(path).astype(int) - frames.astype(int)).mean() < 6
    with pytest.raises(VPBenchError, match="^cannot encode with codec 'vp9' \\(use mpeg4 or h264\\)$"):
        write_video_windows(tmp_path / "b.mp4", [frames], codec="vp9")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]
