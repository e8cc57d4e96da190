"""The non-learned methods: identity, downsampling, and person-region blackening / blurring.

Blackening and blurring act on person regions given as masks (rasterized
boxes). Missing masks are an error, never a silent whole-frame fallback: the
whole frame is used only when the user asks for it (``--whole-frame``).

Blur values: strong kernel 21 sigma 10, weak kernel 13 sigma 10, from Ilic et
al., CVPR 2024 (github f-ilic/SelectivePrivacyPreservation,
``transforms/transform.py``: ``GaussianBlur(kernel_size=21, sigma=10.0)`` /
``GaussianBlur(kernel_size=13, sigma=10.0)``); SPAct's public code has no
blur. Ilic et al.'s code blurs the decoded frames at their source resolution,
before it scales and crops them. Here the blur acts on the
frames ``transform`` is given (the evaluation's working resolution in
``vpbench evaluate``, the video's own in ``vpbench anonymize``), unless the
``source_height`` option scales kernel and sigma to act as they would on a
video that many pixels high: see the model cards. The blur itself is torchvision's
``gaussian_blur`` (``torchvision.transforms.v2.functional``), reflected borders as its ``GaussianBlur``.

Down-sampling follows VITA's public code (github
VITA-Group/Privacy-AdversarialLearning, ``PA-HMDB51-VISPR-exp/utils.py``,
``bilinear_resize``): TF1 ``tf.image.resize_bilinear`` to ``H // f x W // f``
and back to ``H x W``, both without aligned corners or half-pixel centres
(:func:`tf1_resize_bilinear`).
"""

from __future__ import annotations

import torch

from ..core.errors import VPBenchError
from ..core.tensors import to_float, to_uint8
from .base import PrivacyMethod, check_videos


class Raw(PrivacyMethod):
    name = "raw"
    identity = True
    description = "identity (the raw videos): the upper bound of both action and privacy recognition"

    def transform(self, videos, person_masks=None):
        check_videos(videos)
        return videos.clone()


def _tf1_axis(in_size: int, out_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TF1's legacy source coordinates along one axis: ``in = i * (in_size / out_size)`` in float32 (no
    half-pixel centres, no aligned corners); the lower and upper source index and the weight of the upper."""
    scale = torch.tensor(float(in_size), dtype=torch.float32) / torch.tensor(float(out_size), dtype=torch.float32)
    src = torch.arange(out_size, dtype=torch.float32) * scale
    floor = src.floor()
    lower = floor.long().clamp(0, in_size - 1)
    upper = src.ceil().long().clamp(0, in_size - 1)  # TF: min(ceil(in), in_size - 1), the last pixel repeated
    return lower.to(device), upper.to(device), (src - floor).to(device)


def tf1_resize_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of float ``... x H x W`` to ``size`` = (height, width) as TensorFlow 1's
    ``tf.image.resize_bilinear`` (and ``resize_images``) with its defaults: ``align_corners=False`` and no
    half-pixel centres. Output pixel ``i`` reads source coordinate ``i * in / out``: down-sampling by an
    integer ``k`` takes every ``k``-th pixel (no averaging), up-sampling interpolates between neighbours
    and repeats the last row and column. Interpolated as TF does: along the width on the two source rows,
    then between them."""
    out_h, out_w = (int(s) for s in size)
    if out_h < 1 or out_w < 1:
        raise VPBenchError(f"resize to {out_h} x {out_w}: sizes must be at least 1")
    h, w = x.shape[-2:]
    top_i, bottom_i, y_lerp = _tf1_axis(h, out_h, x.device)
    left_i, right_i, x_lerp = _tf1_axis(w, out_w, x.device)
    top, bottom = x.index_select(-2, top_i), x.index_select(-2, bottom_i)
    top = top.index_select(-1, left_i) + (top.index_select(-1, right_i) - top.index_select(-1, left_i)) * x_lerp
    bottom = (
        bottom.index_select(-1, left_i) + (bottom.index_select(-1, right_i) - bottom.index_select(-1, left_i)) * x_lerp
    )
    return top + (bottom - top) * y_lerp[:, None]


class Downsample(PrivacyMethod):
    version = "2"  # 2: TF1 resize (every f-th pixel), as VITA's code; 1 averaged with half-pixel centres
    factor = 2
    description = "bilinear resize to H/f x W/f and back up, TF1-style as VITA's code (every f-th pixel)"

    def transform(self, videos, person_masks=None):
        check_videos(videos)
        x = to_float(videos)
        h, w = x.shape[-2:]
        small = tf1_resize_bilinear(x, (max(h // self.factor, 1), max(w // self.factor, 1)))
        return to_uint8(tf1_resize_bilinear(small, (h, w)))


class Downsample2x(Downsample):
    name, factor = "downsample-2x", 2


class Downsample4x(Downsample):
    name, factor = "downsample-4x", 4


def _masks(videos: torch.Tensor, person_masks: torch.Tensor | None, name: str) -> torch.Tensor:
    if person_masks is None:
        raise VPBenchError(
            f"method '{name}' needs person regions: the dataset ships no boxes; pass a boxes file or ask for the "
            f"whole frame explicitly"
        )
    b, t, h, w, _ = videos.shape
    if tuple(person_masks.shape) != (b, t, h, w):
        raise VPBenchError(f"person masks must be B x T x H x W = {(b, t, h, w)}, got {tuple(person_masks.shape)}")
    return person_masks.to(torch.bool)


class Blackening(PrivacyMethod):
    name = "blackening"
    needs_person_masks = True
    description = "person regions set to black"

    def transform(self, videos, person_masks=None):
        check_videos(videos)
        mask = _masks(videos, person_masks, self.name)
        return videos.masked_fill(mask[..., None], 0)


class Blur(PrivacyMethod):
    """Gaussian blur of the person regions: torchvision's ``gaussian_blur`` (reflected borders).

    It acts on the frames ``transform`` is given, at their size: the evaluation's working resolution under
    ``vpbench evaluate``, the video's own under ``vpbench anonymize``. ``source_height=H`` scales kernel and
    sigma by (frame height) / H, so that the blur is the one these values give on a video H pixels high, as
    Ilic et al.'s code blurs at the source resolution; by default the values act unscaled."""

    # 2: torchvision's gaussian_blur (reflected borders, as the GaussianBlur of Ilic et al.'s code); 1 was a
    # hand-written separable Gaussian with replicated borders: the two differ within half a kernel of the edge
    version = "2"
    needs_person_masks = True
    kernel, sigma = 21, 10.0

    def __init__(self, source_height: int | None = None) -> None:
        if source_height is not None and (
            isinstance(source_height, bool) or not isinstance(source_height, int) or source_height < 1
        ):
            raise VPBenchError(
                f"method '{self.name}' option 'source_height' takes the source videos' height in pixels, a whole "
                f"number of at least 1, got {source_height!r}"
            )
        self.source_height = source_height

    def kernel_at(self, height: int) -> tuple[int, float]:
        """Kernel size and sigma for frames ``height`` pixels high: the class's values, or with ``source_height``
        both scaled by ``height / source_height`` (the half-width ``(kernel - 1) / 2`` scaled and rounded half
        up, so that the kernel stays odd and at least 1) - the blur of a ``source_height``-pixel-high video."""
        if self.source_height is None:
            return self.kernel, self.sigma
        # floor((kernel - 1) / 2 * height / source_height + 1 / 2), in integers (no float rounding at the halves)
        half = ((self.kernel - 1) * height + self.source_height) // (2 * self.source_height)
        return 2 * half + 1, self.sigma * height / self.source_height

    def transform(self, videos, person_masks=None):
        from torchvision.transforms.v2.functional import gaussian_blur

        check_videos(videos)
        mask = _masks(videos, person_masks, self.name)
        h, w = videos.shape[2:4]
        size, sigma = self.kernel_at(h)
        if size // 2 >= min(h, w):
            # Reflection padding needs a frame wider than half the kernel (torchvision's GaussianBlur fails too).
            raise VPBenchError(
                f"method '{self.name}': {h}x{w} frames are too small for its {size}-pixel kernel (reflected "
                f"borders need at least {size // 2 + 1} pixels each way); pass --option source_height=H to scale it"
            )
        # The Gaussian is separable: torchvision's blur along x, then along y, in float32, rounded once at the
        # end. One call with the 2-D kernel gives the same values up to float rounding (at most 1 grey level,
        # rarely) at 441 multiplications a pixel for kernel 21 instead of 42.
        x = videos.permute(0, 1, 4, 2, 3).float()  # B x T x 3 x H x W
        x = gaussian_blur(gaussian_blur(x, [size, 1], [sigma, sigma]), [1, size], [sigma, sigma])
        blurred = x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 1, 3, 4, 2)
        return torch.where(mask[..., None], blurred, videos)


class StrongBlur(Blur):
    name, kernel, sigma = "strongblur", 21, 10.0
    description = "person regions Gaussian-blurred, kernel 21, sigma 10 (Ilic et al.'s strong blur)"


class WeakBlur(Blur):
    name, kernel, sigma = "weakblur", 13, 10.0
    description = "person regions Gaussian-blurred, kernel 13, sigma 10 (Ilic et al.'s weak blur)"


BUILTIN = (Raw, Downsample2x, Downsample4x, Blackening, StrongBlur, WeakBlur)
