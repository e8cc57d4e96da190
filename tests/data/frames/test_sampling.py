import numpy as np
import pytest

from vpbench.core.errors import VPBenchError
from vpbench.data.frames.sampling import (
    ClipSampler,
    crop_boxes,
    random_crop_box,
    random_scaled_box,
)


def test_test_clips_are_evenly_spaced_and_cover_both_ends():
    idx = ClipSampler(clip_len=4, frame_interval=2, num_clips=5, mode="test")(100)
    assert idx.shape == (5, 4)
    assert idx[0, 0] == 0 and idx[-1, -1] == 99
    starts = idx[:, 0]
    assert np.all(np.diff(starts) > 0) and np.ptp(np.diff(starts)) <= 1
    assert np.all(np.diff(idx, axis=1) == 2)


def test_train_clip_is_random_within_bounds_and_seeded():
    sampler = ClipSampler(clip_len=16, frame_interval=2, num_clips=1, mode="train")
    a = [sampler(60, np.random.default_rng(s))[0, 0] for s in range(50)]
    assert min(a) >= 0 and max(a) <= 60 - 31
    assert len(set(a)) > 5
    assert np.array_equal(sampler(60, np.random.default_rng(3)), sampler(60, np.random.default_rng(3)))


def test_short_video_indices_are_clipped_to_the_last_frame():
    idx = ClipSampler(clip_len=8, frame_interval=2)(5)
    assert idx.max() == 4 and idx.shape == (1, 8)


def test_three_crops_span_the_long_side():
    boxes = crop_boxes(96, 128, 96, 3)
    assert [b[1] for b in boxes] == [0, 16, 32]
    assert all(b[2] - b[0] == 96 and b[3] - b[1] == 96 for b in boxes)
    assert crop_boxes(128, 96, 96, 1) == [(16, 0, 112, 96)]
    y0, x0, y1, x1 = random_crop_box(96, 128, 64, np.random.default_rng(0))
    assert 0 <= y0 and y1 <= 96 and 0 <= x0 and x1 <= 128 and y1 - y0 == 64


def test_scaled_boxes_keep_the_aspect_ratio_and_stay_inside_the_frame():
    rng = np.random.default_rng(0)
    sides = []
    for _ in range(200):
        y0, x0, y1, x1 = random_scaled_box(96, 128, 0.8, rng)
        assert 0 <= y0 < y1 <= 96 and 0 <= x0 < x1 <= 128
        assert abs((x1 - x0) / (y1 - y0) - 128 / 96) < 0.03
        sides.append((y1 - y0) / 96)
    assert 0.79 <= min(sides) < 0.82 and 0.98 < max(sides) <= 1.0  # s spans [min_scale, 1]
    assert random_scaled_box(96, 128, 1.0, rng) == (0, 0, 96, 128)
    with pytest.raises(VPBenchError):
        random_scaled_box(96, 128, 0.0, rng)


def test_bad_sampler_settings_are_errors():
    with pytest.raises(VPBenchError):
        ClipSampler(clip_len=0)
    with pytest.raises(VPBenchError):
        ClipSampler(mode="val")
    with pytest.raises(VPBenchError):
        crop_boxes(32, 32, 64, 3)
