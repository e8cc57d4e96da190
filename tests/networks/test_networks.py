"""The network factories: each family of architectures is a Registry; an unknown name is its one-line error."""

from __future__ import annotations

import pytest

from vpbench.core.errors import VPBenchError
from vpbench.core.registry import Registry
from vpbench.networks.anonymizers import ANONYMIZERS, AnonymizerConfig, FrameAnonymizer
from vpbench.networks.frame_models import FRAME_MODELS, create_frame_model
from vpbench.networks.recognizers import RECOGNIZERS, create_recognizer

TORCHVISION = [
    "mc3_18",
    "mvit_v2_s",
    "r2plus1d_18",
    "r3d_18",
    "resnet18",
    "resnet50",
    "swin3d_t",
]
BUILDS = {
    "recognizer": lambda arch: create_recognizer({"arch": arch}, 3, 4, 32),
    "frame model": lambda arch: create_frame_model({"arch": arch}, 5),
    "anonymizer": lambda arch: FrameAnonymizer(AnonymizerConfig(arch)),
}


@pytest.mark.parametrize(
    "factory, typo, meant, names",
    [
        (
            "recognizer",
            "video-cn",
            "video-cnn",
            f"frame-cnn, frame-vit, {', '.join(f'torchvision/{n}' for n in TORCHVISION)}, video-cnn, video-vit",
        ),
        (
            "frame model",
            "frame-resnett",
            "frame-resnet",
            "frame-cnn, frame-mobilenet, frame-resnet, torchvision/resnet18, torchvision/resnet50",
        ),
        ("anonymizer", "unett", "unet", "degradation, unet"),
    ],
)
def test_an_unknown_architecture_is_one_line_with_a_suggestion(factory, typo, meant, names):
    with pytest.raises(VPBenchError) as info:
        BUILDS[factory](typo)
    assert str(info.value) == (
        f"unknown {factory} architecture '{typo}' (did you mean '{meant}'?); choose from: {names}"
    )


@pytest.mark.parametrize("factory", sorted(BUILDS))
def test_a_missing_or_unlike_architecture_is_one_line_without_a_guess(factory):
    with pytest.raises(
        VPBenchError,
        match=r"^unknown .* architecture '[^']*'; choose from: [a-z0-9_/, -]+$",
    ):
        BUILDS[factory]("zzz")
    if factory != "anonymizer":  # AnonymizerConfig requires an arch
        spec_without_arch = {
            "recognizer": lambda: create_recognizer({}, 3, 4, 32),
            "frame model": lambda: create_frame_model({}, 5),
        }[factory]
        with pytest.raises(VPBenchError, match=r"^unknown .* architecture 'None'; choose from"):
            spec_without_arch()


def test_the_factories_are_registries_with_every_card_architecture():
    assert all(isinstance(r, Registry) for r in (RECOGNIZERS, FRAME_MODELS, ANONYMIZERS))
    assert RECOGNIZERS.names() == [
        "frame-cnn",
        "frame-vit",
        *(f"torchvision/{n}" for n in TORCHVISION),
        "video-cnn",
        "video-vit",
    ]
    assert FRAME_MODELS.names() == [
        "frame-cnn",
        "frame-mobilenet",
        "frame-resnet",
        "torchvision/resnet18",
        "torchvision/resnet50",
    ]
    assert ANONYMIZERS.names() == ["degradation", "unet"]
