"""The non-learned baselines against their sources: VITA's TF1 down-sampling, Ilic et al.'s blur values and the
resolution the blur acts at (issue 23, item 5)."""

from __future__ import annotations

import pytest
import torch

from vpbench.core.config import method_card
from vpbench.core.errors import VPBenchError
from vpbench.methods import METHODS, create_method
from vpbench.methods.simple import tf1_resize_bilinear

# --- tf1_resize_bilinear: TF1's tf.image.resize_bilinear, align_corners=False, no half-pixel centres -------------


def test_down_by_an_integer_factor_takes_every_kth_pixel():
    ramp = torch.arange(16, dtype=torch.float32).reshape(4, 4)
    assert torch.equal(tf1_resize_bilinear(ramp, (2, 2)), ramp[::2, ::2])  # [[0, 2], [8, 10]]: nothing averaged
    x = torch.rand(2, 3, 16, 24, generator=torch.Generator().manual_seed(0))
    assert torch.equal(tf1_resize_bilinear(x, (4, 6)), x[..., ::4, ::4])
    assert torch.equal(tf1_resize_bilinear(x, (8, 12)), x[..., ::2, ::2])


def test_up_resize_follows_tf1s_formula_by_hand():
    """2 x 2 -> 4 x 4, by hand: scale in / out = 0.5, so output i reads source i * 0.5 = 0, 0.5, 1, 1.5; lower =
    floor, upper = min(ceil, 1), weight = the fraction. Row 0: a, (a + b) / 2, b, b (1.5 -> lower 1, upper 1);
    rows 2 and 3 repeat the last source row."""
    a, b, c, d = 1.0, 2.0, 3.0, 4.0
    got = tf1_resize_bilinear(torch.tensor([[a, b], [c, d]]), (4, 4))
    top = [a, (a + b) / 2, b, b]
    bottom = [c, (c + d) / 2, d, d]
    middle = [(t + u) / 2 for t, u in zip(top, bottom)]
    assert torch.equal(got, torch.tensor([top, middle, bottom, bottom]))


@pytest.mark.parametrize(
    "src, size, want",
    [
        # TensorFlow's own expected values (tensorflow/core/kernels/image/resize_bilinear_op_test.cc,
        # ResizeBilinearOpTest: align_corners and half_pixel_centers false).
        ([[1, 2], [3, 4]], (3, 3), [[1, 5 / 3, 2], [7 / 3, 3, 10 / 3], [3, 11 / 3, 4]]),
        ([[1, 2, 3], [4, 5, 6], [7, 8, 9]], (2, 2), [[1, 2.5], [5.5, 7]]),
        (
            [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
            (4, 4),
            [[1, 1.75, 2.5, 3], [3.25, 4, 4.75, 5.25], [5.5, 6.25, 7, 7.5], [7, 7.75, 8.5, 9]],
        ),
        (
            [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]],
            (3, 3),
            [[1, 7 / 3, 11 / 3], [19 / 3, 23 / 3, 27 / 3], [35 / 3, 39 / 3, 43 / 3]],
        ),
        ([[1, 2], [3, 4]], (1, 1), [[1]]),  # down to one pixel: the top-left one
    ],
)
def test_matches_tensorflows_reference_values(src, size, want):
    got = tf1_resize_bilinear(torch.tensor(src, dtype=torch.float32), size)
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float32))


def test_non_square_sizes_and_leading_dimensions():
    x = torch.arange(2 * 3 * 6, dtype=torch.float32).reshape(2, 3, 6)
    out = tf1_resize_bilinear(x, (2, 3))  # rows 0 and 1.5, columns 0, 2, 4
    rows = x[:, [0, 1]] + (x[:, [0, 2]] - x[:, [0, 1]]) * torch.tensor([0.0, 0.5])[:, None]
    assert out.shape == (2, 2, 3)
    torch.testing.assert_close(out, rows[:, :, ::2])
    with pytest.raises(VPBenchError, match="at least 1"):
        tf1_resize_bilinear(x, (0, 3))


# --- the down-sampling methods ----------------------------------------------------------------------------------


def _video(frame: torch.Tensor) -> torch.Tensor:
    """One clip of one frame, the same values in the three channels."""
    return frame.to(torch.uint8)[None, None, :, :, None].expand(1, 1, *frame.shape, 3).contiguous()


def test_downsample_2x_is_tf1_down_then_up_by_hand():
    # x[i, j] = 40 i + 10 j. Down by 2 keeps [[0, 20], [80, 100]]; up: row 0 = 0, 10, 20, 20; row 2 = 80, 90,
    # 100, 100; row 1 halfway between them; row 3 repeats row 2. Every value is an integer: no rounding.
    x = 40 * torch.arange(4)[:, None] + 10 * torch.arange(4)[None, :]
    want = torch.tensor([[0, 10, 20, 20], [40, 50, 60, 60], [80, 90, 100, 100], [80, 90, 100, 100]])
    assert torch.equal(create_method("downsample-2x").transform(_video(x)), _video(want))


def test_downsample_4x_keeps_the_sampled_pixels_and_averages_nothing():
    """Detail finer than the factor is aliased, not averaged: a one-pixel stripe pattern sampled on its grid
    comes out in one stripe's colour (half-pixel-centre bilinear would give the stripes' mean, 127.5)."""
    stripes = torch.zeros(16, 16, dtype=torch.long)
    stripes[0::2] = 255
    out = create_method("downsample-4x").transform(_video(stripes))
    assert (out == 255).all()
    g = torch.Generator().manual_seed(1)
    v = torch.randint(0, 256, (2, 3, 16, 20, 3), dtype=torch.uint8, generator=g)
    out = create_method("downsample-4x").transform(v)
    assert torch.equal(out[:, :, 0:13:4, 0:17:4], v[:, :, 0:13:4, 0:17:4])  # the kept grid survives exactly


@pytest.mark.parametrize("name", ["downsample-2x", "downsample-4x"])
def test_downsampling_keeps_odd_and_tiny_sizes(name):
    for h, w in ((5, 7), (1, 3), (3, 1)):
        v = torch.full((1, 2, h, w, 3), 90, dtype=torch.uint8)
        assert torch.equal(create_method(name).transform(v), v)


def test_downsample_version_and_cards_follow_the_tf1_resize():
    for name in ("downsample-2x", "downsample-4x"):
        assert METHODS.get(name).version == "2"
        card = method_card(name)
        assert card["version"] == 2
        assert "Privacy-AdversarialLearning" in card["source"] and "bilinear_resize" in card["source"]


# --- the blurs: Ilic et al.'s values, and the resolution they act at ---------------------------------------------


@pytest.mark.parametrize("name, kernel", [("strongblur", 21), ("weakblur", 13)])
def test_blur_values_and_credit(name, kernel):
    method = create_method(name)
    assert method.kernel_at(64) == (kernel, 10.0) and method.kernel_at(480) == (kernel, 10.0)
    card = method_card(name)
    assert "Ilic" in card["source"] and "f-ilic/SelectivePrivacyPreservation" in card["source"]
    assert f"kernel_size={kernel}, sigma=10.0" in card["source"]
    assert "source_height" in card["options"]


@pytest.mark.parametrize(
    "name, source, height, want",
    [
        # half-width (k - 1) / 2 scaled by height / source, rounded half up; kernel = 2 * half + 1
        ("strongblur", 240, 64, (7, 10 * 64 / 240)),  # 10 x 0.267 = 2.67 -> 3
        ("strongblur", 240, 128, (11, 10 * 128 / 240)),  # 5.33 -> 5
        ("strongblur", 240, 240, (21, 10.0)),
        ("strongblur", 240, 480, (41, 20.0)),
        ("weakblur", 240, 64, (5, 10 * 64 / 240)),  # 6 x 0.267 = 1.6 -> 2
        ("weakblur", 240, 128, (7, 10 * 128 / 240)),  # 3.2 -> 3
        ("weakblur", 480, 20, (1, 10 * 20 / 480)),  # 0.25 -> 0: no blur left
        ("weakblur", 48, 4, (3, 10 * 4 / 48)),  # 6 x 4 / 48 = 0.5 exactly: rounds half up to 1
    ],
)
def test_source_height_scales_kernel_and_sigma(name, source, height, want):
    size, sigma = create_method(name, source_height=source).kernel_at(height)
    assert size == want[0] and sigma == pytest.approx(want[1])


def test_scaled_kernel_is_always_odd_and_at_least_one():
    for name in ("strongblur", "weakblur"):
        for source in (1, 7, 64, 240, 1080):
            method = create_method(name, source_height=source)
            for height in range(1, 300, 7):
                size, sigma = method.kernel_at(height)
                assert size >= 1 and size % 2 == 1 and sigma > 0


def _region():
    g = torch.Generator().manual_seed(2)
    v = torch.randint(0, 256, (1, 2, 32, 40, 3), dtype=torch.uint8, generator=g)
    m = torch.zeros(1, 2, 32, 40, dtype=torch.bool)
    m[:, :, 4:28, 6:34] = True
    return v, m


def test_source_height_equal_to_the_frames_is_the_default_blur():
    v, m = _region()
    for name in ("strongblur", "weakblur"):
        assert torch.equal(create_method(name, source_height=32).transform(v, m), create_method(name).transform(v, m))


def test_source_height_above_the_frames_blurs_less_and_a_one_pixel_kernel_changes_nothing():
    v, m = _region()
    default = create_method("strongblur").transform(v, m).float()
    scaled = create_method("strongblur", source_height=128).transform(v, m).float()  # kernel 5, sigma 2.5
    assert torch.equal(scaled[~m], v.float()[~m])
    assert default[m].std() < scaled[m].std() < v.float()[m].std()
    assert torch.equal(create_method("weakblur", source_height=1000).transform(v, m), v)  # kernel 1


def _gaussian(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def test_scaled_blur_uses_the_scaled_gaussian():
    """The scaled blur is the same Gaussian with the scaled kernel and sigma (an impulse far from the borders)."""
    v = torch.zeros(1, 1, 9, 9, 3, dtype=torch.uint8)
    v[0, 0, 4, 4] = 255
    m = torch.ones(1, 1, 9, 9, dtype=torch.bool)
    method = create_method("strongblur", source_height=27)  # at 9 pixels: half-width 10 / 3 -> 3, sigma 10 / 3
    size, sigma = method.kernel_at(9)
    k = _gaussian(size, sigma)
    assert size == 7
    want = torch.zeros(9, 9)
    want[1:8, 1:8] = 255 * torch.outer(k, k)
    assert torch.equal(method.transform(v, m)[0, 0, :, :, 0], want.round().to(torch.uint8))


@pytest.mark.parametrize("name", ["strongblur", "weakblur"])
def test_blur_is_torchvisions_gaussian_blur_with_reflected_borders(name):
    """Whole-frame blur = torchvision's GaussianBlur(kernel_size, sigma) on the uint8 frames (Ilic et al.'s
    transform) up to float rounding, borders included: reflected, not replicated."""
    from torchvision.transforms import v2

    v, _ = _region()
    m = torch.ones(v.shape[:4], dtype=torch.bool)
    method = create_method(name)
    want = v2.GaussianBlur(kernel_size=method.kernel, sigma=method.sigma)(v.permute(0, 1, 4, 2, 3))
    diff = (method.transform(v, m).int() - want.permute(0, 1, 3, 4, 2).int()).abs()
    assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-3  # separable passes: the same up to float rounding
    # A bright first column: reflection pads with columns 1.. (dark), replication would repeat the bright one.
    edge = torch.zeros(1, 1, 32, 40, 3, dtype=torch.uint8)
    edge[..., 0, :] = 255
    out = method.transform(edge, torch.ones(1, 1, 32, 40, dtype=torch.bool))[0, 0, 16, :, 0].float()
    k = _gaussian(method.kernel, method.sigma)
    assert out[0].item() == round(255 * k[method.kernel // 2].item())  # the column itself, no reflected copy
    assert METHODS.get(name).version == "2" and method_card(name)["version"] == 2


def test_frames_smaller_than_half_the_kernel_are_a_one_line_error():
    v = torch.zeros(1, 1, 10, 40, 3, dtype=torch.uint8)
    with pytest.raises(VPBenchError) as err:
        create_method("strongblur").transform(v, torch.ones(1, 1, 10, 40, dtype=torch.bool))
    assert "10x40 frames are too small for its 21-pixel kernel" in str(err.value) and "\n" not in str(err.value)
    out = create_method("strongblur", source_height=40).transform(v, torch.ones(1, 1, 10, 40, dtype=torch.bool))
    assert out.shape == v.shape  # scaled to a 5-pixel kernel: fits


@pytest.mark.parametrize("bad", [0, -240, 2.5, True, "240", [240]])
def test_bad_source_height_is_a_one_line_error(bad):
    with pytest.raises(VPBenchError) as err:
        METHODS.get("strongblur")(source_height=bad)
    assert "source_height" in str(err.value) and "\n" not in str(err.value)


def test_source_height_goes_through_the_option_checks():
    assert create_method("weakblur", source_height=240).source_height == 240
    assert create_method("weakblur").source_height is None
    with pytest.raises(VPBenchError, match="option 'source_height' takes an integer, got 'abc'"):
        create_method("weakblur", source_height="abc")
    with pytest.raises(VPBenchError, match="'blackening' takes no options, got source_height"):
        create_method("blackening", source_height=240)
