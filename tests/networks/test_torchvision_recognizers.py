"""torchvision's architectures as recognizers and frame models (issue 24, item 2): built with weights=None, a
local state dict loaded by ``weights:``, one training step each at tiny input, and the ``spact`` profile."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vpbench.core.config import recognizer_profile
from vpbench.core.errors import VPBenchError
from vpbench.core.tensors import normalize
from vpbench.networks.frame_models import FRAME_MODELS, create_frame_model
from vpbench.networks.recognizers import (
    RECOGNIZERS,
    TORCHVISION_FRAMES,
    TORCHVISION_VIDEO,
    TorchvisionRecognizer,
    create_recognizer,
)

VIDEO = ["r3d_18", "mc3_18", "r2plus1d_18", "swin3d_t"]  # mvit_v2_s: fixed 16 x 224 x 224, below
FRAMES = ["resnet18", "resnet50"]


def _one_step(model: nn.Module, x: torch.Tensor, num_outputs: int) -> None:
    """One forward + backward + optimizer step; the output has the right shape and the weights move."""
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    model.train()
    out = model(x)
    assert out.shape == (x.shape[0], num_outputs)
    nn.functional.cross_entropy(out, torch.arange(x.shape[0]) % num_outputs).backward()
    opt.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))


def test_every_listed_architecture_is_registered_by_name():
    assert set(VIDEO) | {"mvit_v2_s"} <= set(TORCHVISION_VIDEO) and set(FRAMES) <= set(TORCHVISION_FRAMES)
    for name in [*VIDEO, "mvit_v2_s", *FRAMES]:
        assert f"torchvision/{name}" in RECOGNIZERS
    assert {f"torchvision/{n}" for n in FRAMES} <= set(FRAME_MODELS.names())
    with pytest.raises(VPBenchError, match=r"did you mean 'torchvision/r3d_18'\?"):
        create_recognizer({"arch": "torchvision/r3d18"}, 3, 4, 32)


@pytest.mark.parametrize("name", VIDEO)
def test_video_architecture_takes_a_training_step_at_tiny_input(name):
    torch.manual_seed(0)
    model = create_recognizer({"arch": f"torchvision/{name}"}, 3, 4, 32)
    assert isinstance(model, TorchvisionRecognizer) and not model.frames
    _one_step(model, torch.randn(2, 3, 4, 32, 32), 3)


@pytest.mark.parametrize("name", FRAMES)
def test_frame_architecture_takes_a_step_on_clips_and_averages_its_frames(name):
    torch.manual_seed(0)
    model = create_recognizer({"arch": f"torchvision/{name}"}, 5, 3, 32)
    assert model.frames
    clips = torch.randn(2, 3, 3, 32, 32)
    _one_step(model, clips, 5)  # the privacy target: video-level outputs from B x 3 x T x H x W
    model.eval()
    with torch.no_grad():
        per_frame = torch.stack([model(clips[:, :, t]) for t in range(3)], 1)  # frame_privacy: N x 3 x H x W
        assert per_frame.shape == (2, 3, 5)
        assert torch.allclose(model(clips), per_frame.mean(1), atol=1e-5)


def test_frame_architecture_without_outputs_is_an_encoder():
    enc = create_frame_model({"arch": "torchvision/resnet18"}, 0)
    assert enc.feature_dim == 512 and enc(torch.randn(2, 3, 32, 32)).shape == (2, 512)
    assert create_frame_model({"arch": "torchvision/resnet50"}, 7)(torch.randn(2, 3, 32, 32)).shape == (2, 7)


@pytest.mark.slow
def test_mvit_v2_s_takes_a_step_at_the_one_size_torchvision_builds():
    torch.manual_seed(0)
    _one_step(create_recognizer({"arch": "torchvision/mvit_v2_s"}, 3, 16, 224), torch.randn(1, 3, 16, 224, 224), 3)


@pytest.mark.parametrize("clip_len, crop", [(8, 224), (16, 112), (16, (224, 160))])
def test_mvit_v2_s_at_another_size_is_a_one_line_error(clip_len, crop):
    with pytest.raises(VPBenchError) as err:
        create_recognizer({"arch": "torchvision/mvit_v2_s"}, 3, clip_len, crop)
    assert "takes 16-frame 224x224 clips" in str(err.value) and "\n" not in str(err.value)


def test_the_input_is_mapped_to_the_normalization_of_torchvisions_weights():
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    identity = TorchvisionRecognizer(nn.Identity(), False, mean, std)
    u8 = torch.randint(0, 256, (1, 3, 2, 4, 4), dtype=torch.uint8)
    want = (u8.float() / 255 - torch.tensor(mean).view(3, 1, 1, 1)) / torch.tensor(std).view(3, 1, 1, 1)
    assert torch.allclose(identity(normalize(u8)), want, atol=1e-5)
    assert torch.allclose(identity(normalize(u8[:, :, 0])), want[:, :, 0], atol=1e-5)  # images too


# --- weights: a local state dict ----------------------------------------------------------------------------------


def _backbone(model: TorchvisionRecognizer) -> dict:
    return {k: v for k, v in model.net.state_dict().items() if not k.startswith("fc.")}


def test_a_weights_file_round_trips_and_its_head_is_left_out(tmp_path):
    import torchvision

    torch.manual_seed(1)
    source = torchvision.models.resnet18(weights=None)  # torchvision's own model, its 1000-class head included
    torch.save(source.state_dict(), tmp_path / "r18.pth")
    torch.manual_seed(2)
    model = create_recognizer({"arch": "torchvision/resnet18", "weights": str(tmp_path / "r18.pth")}, 4, 2, 32)
    got = _backbone(model)
    assert got and all(torch.equal(v, source.state_dict()[k]) for k, v in got.items())
    assert model.net.fc.out_features == 4  # a fresh head for the task
    # A file saved from a vpbench recognizer (keys under "net.", a 4-class head) loads the same.
    torch.save(model.state_dict(), tmp_path / "mine.pth")
    again = create_frame_model({"arch": "torchvision/resnet18", "weights": str(tmp_path / "mine.pth")}, 9)
    assert all(torch.equal(v, got[k]) for k, v in _backbone(again).items())


def test_a_video_weights_file_round_trips(tmp_path):
    torch.manual_seed(1)
    source = create_recognizer({"arch": "torchvision/mc3_18"}, 3, 4, 32)
    torch.save(source.net.state_dict(), tmp_path / "mc3.pth")
    torch.manual_seed(2)
    model = create_recognizer({"arch": "torchvision/mc3_18", "weights": str(tmp_path / "mc3.pth")}, 3, 4, 32)
    got, want = _backbone(model), source.net.state_dict()
    assert len(got) == len(want) - 2 and all(torch.equal(v, want[k]) for k, v in got.items())
    assert not torch.equal(model.net.fc.weight, want["fc.weight"])  # the head is not the file's: a fresh one


def test_a_file_of_another_architecture_is_one_line_naming_the_keys(tmp_path):
    torch.save(create_recognizer({"arch": "torchvision/resnet18"}, 3, 2, 32).net.state_dict(), tmp_path / "r18.pth")
    with pytest.raises(VPBenchError) as err:
        create_recognizer({"arch": "torchvision/resnet50", "weights": str(tmp_path / "r18.pth")}, 3, 2, 32)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'r18.pth'} does not match torchvision/resnet50: ")
    assert "missing keys layer1.0.conv3.weight, layer1.0.bn3.weight, layer1.0.bn3.bias and " in message
    with pytest.raises(VPBenchError) as err:
        create_recognizer({"arch": "torchvision/r3d_18", "weights": str(tmp_path / "r18.pth")}, 3, 2, 32)
    assert "missing keys stem.0.weight" in str(err.value) and "; unexpected keys conv1.weight, " in str(err.value)
    assert "\n" not in str(err.value)


def test_a_file_with_a_wrong_shape_or_no_tensors_is_one_line(tmp_path):
    state = create_recognizer({"arch": "torchvision/resnet18"}, 3, 2, 32).net.state_dict()
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(VPBenchError, match=r"'conv1.weight' has shape \(64, 3, 3, 3\) in the file, \(64, 3, 7, 7\)"):
        create_recognizer({"arch": "torchvision/resnet18", "weights": str(tmp_path / "shape.pth")}, 3, 2, 32)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint\n" * 3)
    for path, words in [(tmp_path / "junk.pth", "is not a readable state dict"), (tmp_path / "no.pth", "not found")]:
        with pytest.raises(VPBenchError) as err:
            create_recognizer({"arch": "torchvision/resnet18", "weights": str(path)}, 3, 2, 32)
        assert words in str(err.value) and "\n" not in str(err.value)


def test_an_unknown_option_is_one_line():
    with pytest.raises(VPBenchError, match=r"^torchvision/resnet50: unknown option widths; it takes weights$"):
        create_recognizer({"arch": "torchvision/resnet50", "widths": [8]}, 3, 2, 32)


# --- the spact profile --------------------------------------------------------------------------------------------


def test_the_spact_profile_builds_r3d18_and_resnet50_at_spacts_sizes():
    profile = recognizer_profile("spact")
    clip_len, crop = profile["clip_len"], profile["crop"]
    assert (clip_len, crop, profile["frame_interval"]["default"]) == (16, 112, 2)
    assert profile["action"]["arch"] == "torchvision/r3d_18"
    assert profile["privacy"]["arch"] == profile["frame_privacy"]["arch"] == "torchvision/resnet50"
    h, w = profile["frame_size"]
    assert crop / h == pytest.approx(0.8, abs=0.01) and w / h == pytest.approx(320 / 240, abs=0.01)
    torch.manual_seed(0)
    action = create_recognizer(profile["action"], 51, clip_len, crop)
    conv = action.net.layer4[0].conv1[0]
    assert (conv.stride, conv.dilation) == ((1, 2, 2), (2, 1, 1))  # SPAct's layer4
    privacy = create_recognizer(profile["privacy"], 7, clip_len, crop)
    frames = create_recognizer(profile["frame_privacy"], 7, clip_len, crop)
    with torch.no_grad():  # small inputs (the profile trains at 16 x 112 x 112): shapes, not speed
        action.eval(), privacy.eval(), frames.eval()
        assert action(torch.randn(1, 3, clip_len, 48, 48)).shape == (1, 51)
        assert privacy(torch.randn(1, 3, 4, 48, 48)).shape == (1, 7)
        assert frames(torch.randn(2, 3, 48, 48)).shape == (2, 7)
