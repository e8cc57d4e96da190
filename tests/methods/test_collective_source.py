"""Collective as its source (dalinzhang/SensePrivacy) describes it: content, Gram-style-towards-noise and utility
losses, a utility model trained on raw clips and then frozen, and no privacy labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers.tiny import TINY_PROFILE, fit_with_card
from vpbench.core.errors import VPBenchError
from vpbench.methods import FitData, create_method
from vpbench.methods import collective as collective_module
from vpbench.methods.collective import (
    content_loss,
    feature_stages,
    gram,
    loss_layers,
    noise_clip,
    noise_grams,
    style_loss,
    transformation_loss,
    utility_features,
)
from vpbench.networks.anonymizers import AnonymizerConfig, FrameAnonymizer
from vpbench.networks.recognizers import create_recognizer

CNN = {"arch": "video-cnn", "widths": [4, 8, 8, 8]}
VIT = {"arch": "video-vit", "tubelet": [2, 8, 8], "dim": 16, "depth": 4, "heads": 2}


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    """Every test of this file on one thread (tests/conftest.py: one_thread)."""


def _video(b=2, t=4, h=16, w=24, seed=0) -> torch.Tensor:
    return torch.rand(b, 3, t, h, w, generator=torch.Generator().manual_seed(seed))


def _utility(spec=CNN, hw=(16, 24)) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_recognizer(spec, 3, 4, hw).eval()


# --- the losses -------------------------------------------------------------------------------------


def test_gram_matrix_of_a_known_tensor_is_f_ft_over_channels_times_positions():
    f = torch.tensor([[[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]]])  # B=1, C=2, P=3
    expected = torch.tensor([[[5.0, 11.0], [11.0, 26.0]]]) / (2 * 3)
    assert torch.allclose(gram(f), expected)
    assert gram(torch.rand(4, 5, 7)).shape == (4, 5, 5)


def test_style_loss_is_zero_against_its_own_gram_and_the_summed_squared_gram_difference_otherwise():
    f, g = torch.rand(3, 4, 10), torch.rand(3, 4, 10) * 2
    assert style_loss(f, gram(f)).item() == pytest.approx(0.0, abs=1e-12)
    target = gram(g[:1])  # one fixed target (the noise's), broadcast over the batch
    per_sample = [((gram(f[i : i + 1]) - target) ** 2).sum().item() for i in range(3)]
    assert style_loss(f, target).item() == pytest.approx(np.mean(per_sample), rel=1e-5) and np.min(per_sample) > 0


def test_content_loss_is_the_summed_squared_feature_difference_over_its_size():
    f, g = torch.rand(2, 4, 10), torch.rand(2, 4, 10)
    assert content_loss(f, f).item() == 0.0
    per_sample = [((f[i] - g[i]) ** 2).sum().item() / (4 * 10) for i in range(2)]
    assert content_loss(f, g).item() == pytest.approx(np.mean(per_sample), rel=1e-5)


@pytest.mark.parametrize("spec", [CNN, VIT], ids=["video-cnn", "video-vit"])
def test_utility_features_come_from_the_models_own_forward_pass(spec):
    model = _utility(spec)
    x = _video()
    logits, feats = utility_features(model, x)
    assert torch.equal(logits, model(x))
    assert len(feats) == len(feature_stages(model)) == 4 and all(f.ndim == 3 and f.shape[0] == 2 for f in feats)
    if spec is CNN:  # a conv layer's map, C x (T * H * W)
        assert feats[0].shape == (2, 4, 4 * 8 * 12) and feats[3].shape[1] == 8
    else:  # a block's tokens, D x N
        assert all(f.shape == (2, 16, 2 * 2 * 3) for f in feats)
    assert not model._forward_hooks and all(not m._forward_hooks for m in feature_stages(model))


def test_layers_follow_the_sources_choice():
    # The source's activity model: four ReLU convolutions in two blocks; content at conv2_2, style at conv1_2, conv2_2.
    assert loss_layers(4) == ([3], [1, 3])
    assert loss_layers(12) == ([11], [5, 11])  # ViT-S: blocks 6 and 12
    assert loss_layers(1) == ([0], [0])


def test_only_video_recognizers_can_be_the_utility_model():
    with pytest.raises(VPBenchError, match="utility model must be one of video-cnn, video-vit, got FrameCNN"):
        feature_stages(create_recognizer({"arch": "frame-cnn", "widths": [4, 8, 8, 8]}, 3, 1, 16))
    with pytest.raises(VPBenchError, match="action_model must be one of video-cnn, video-vit, got 'frame-cnn'"):
        create_method("collective").check_settings({"action_model": {"arch": "frame-cnn"}})


def test_noise_is_one_fixed_clip_of_uniform_pixels():
    a, b = noise_clip(4, 16, 24, 33), noise_clip(4, 16, 24, 33)
    assert a.shape == (1, 3, 4, 16, 24) and torch.equal(a, b) and not torch.equal(a, noise_clip(4, 16, 24, 34))
    assert 0 <= a.min() < 0.01 and 0.99 < a.max() <= 1 and abs(a.mean().item() - 0.5) < 0.02


def test_transformation_loss_is_the_weighted_sum_and_its_step_lowers_it_on_a_fixed_batch():
    torch.manual_seed(0)
    net = FrameAnonymizer(AnonymizerConfig("degradation", {"widths": [4, 8, 8], "blocks": 0, "outer_kernel": 3}))
    utility = _utility().requires_grad_(False)
    layers = loss_layers(4)
    targets = noise_grams(utility, noise_clip(4, 16, 24, 33), layers[1])
    clips, labels = _video(4), torch.tensor([0, 1, 2, 0])

    def loss():
        return transformation_loss(net, utility, clips, labels, targets, layers, (0.35, 0.55, 0.1))

    total, l_c, l_s, l_a = loss()
    assert torch.allclose(total, 0.35 * l_c + 0.55 * l_s + 0.1 * l_a) and l_c > 0 and l_s > 0 and l_a > 0
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    before = total.item()
    for _ in range(5):
        opt.zero_grad()
        loss()[0].backward()
        opt.step()
    assert loss()[0].item() < before
    assert all(p.grad is None for p in utility.parameters())  # the utility model is never trained here


def test_the_identity_has_no_content_loss_and_noise_has_no_style_loss():
    utility = _utility().requires_grad_(False)
    layers = loss_layers(4)
    noise = noise_clip(4, 16, 24, 33)
    targets = noise_grams(utility, noise, layers[1])
    labels = torch.tensor([1])
    identity = torch.nn.Identity()
    _, l_c, l_s, _ = transformation_loss(identity, utility, _video(1), labels, targets, layers, (1, 1, 1))
    assert l_c.item() == 0 and l_s.item() > 0
    _, l_c, l_s, _ = transformation_loss(identity, utility, noise, labels, targets, layers, (1, 1, 1))
    assert l_s.item() == pytest.approx(0.0, abs=1e-10)


# --- the fit --------------------------------------------------------------------------------------


class _Untouchable:
    """Privacy labels that fail any use: Collective must train without ever reading them."""

    def __getattribute__(self, name):
        raise AssertionError(f"Collective read the privacy labels ({name})")

    def __len__(self):
        raise AssertionError("Collective read the privacy labels (len)")

    def __array__(self, *args, **kwargs):
        raise AssertionError("Collective read the privacy labels (as an array)")


def _data(privacy="labels", videos=8) -> FitData:
    rng = np.random.default_rng(0)
    vids = [rng.integers(0, 256, (6, 32, 40, 3), dtype=np.uint8) for _ in range(videos)]
    actions = rng.integers(0, 3, videos)
    labels = rng.integers(0, 2, (videos, 5)).astype(np.float32)
    chosen = {"labels": labels, "nan": np.full((videos, 5), np.nan, np.float32), "untouchable": _Untouchable()}
    return FitData(videos=vids, actions=actions, privacy=chosen[privacy], num_actions=3)


def _fit(models, privacy="labels", checkpoint_dir=None, **options):
    method = create_method("collective", **options)
    fit_with_card(method, _data(privacy), {**TINY_PROFILE, "clip_len": 4}, models, checkpoint_dir=checkpoint_dir)
    return method


@pytest.fixture(scope="module")
def fitted(tiny_models):
    return _fit(tiny_models)


def _same_weights(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.net.state_dict().values(), b.net.state_dict().values()))


@pytest.mark.parametrize("privacy", ["untouchable", "nan"])
def test_the_fit_never_reads_privacy_labels(privacy, fitted, tiny_models):
    blind = _fit(tiny_models, privacy)
    assert blind.log["epochs"] and blind.log == fitted.log
    assert _same_weights(blind, fitted)  # the labels do not matter at all


def test_a_tiny_fit_transforms_to_uint8_of_the_input_shape_on_the_cpu(fitted):
    v = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (2, 5, 32, 40, 3), dtype=np.uint8))
    out = fitted.transform(v)
    assert out.shape == v.shape and out.dtype == torch.uint8 and out.device.type == "cpu"
    log = fitted.log
    assert (log["content_weight"], log["style_weight"], log["action_weight"]) == (0.35, 0.55, 0.1)
    assert log["content_layers"] == [3] and log["style_layers"] == [1, 3]
    assert len(log["action_pretrain_ce"]) == 1 and [e["epoch"] for e in log["epochs"]] == [0, 1]
    for e in log["epochs"]:
        assert e["loss"] == pytest.approx(0.35 * e["content"] + 0.55 * e["style"] + 0.1 * e["action_ce"], abs=2e-4)


def test_the_utility_model_is_trained_on_raw_clips_then_frozen(tiny_models, monkeypatch):
    made, at_freeze = [], {}
    create, grams = collective_module.create_recognizer, collective_module.noise_grams

    def recorded_create(*args, **kwargs):
        made.append(create(*args, **kwargs))
        at_freeze["init"] = {k: v.clone() for k, v in made[-1].state_dict().items()}
        return made[-1]

    def recorded_grams(utility, noise, layers):
        at_freeze["state"] = {k: v.clone() for k, v in utility.state_dict().items()}
        at_freeze["mode"] = (utility.training, any(p.requires_grad for p in utility.parameters()))
        return grams(utility, noise, layers)

    monkeypatch.setattr(collective_module, "create_recognizer", recorded_create)
    monkeypatch.setattr(collective_module, "noise_grams", recorded_grams)
    method = _fit(tiny_models)
    [utility] = made
    assert at_freeze["mode"] == (False, False)  # eval mode, no gradients, before the transformation's first step
    trained = at_freeze["state"]
    assert any(not torch.equal(trained[k], at_freeze["init"][k]) for k in trained)  # the utility stage trained it
    after = utility.state_dict()
    assert all(torch.equal(after[k], trained[k]) for k in trained)  # weights and BN statistics: unchanged since
    assert method.log["epochs"] and any(p.requires_grad for p in method.net.parameters())


def test_weight_options_override_the_profile_and_are_checked(fitted, tiny_models):
    heavier = _fit(tiny_models, style_weight=5.0)
    assert heavier.log["style_weight"] == 5.0 and heavier.log["content_weight"] == 0.35
    assert not _same_weights(heavier, fitted)
    with pytest.raises(VPBenchError, match="content_weight must be >= 0"):
        create_method("collective", content_weight=-1)


def test_a_fit_killed_after_the_utility_stage_resumes_to_the_same_result(fitted, tiny_models, tmp_path, monkeypatch):
    from vpbench.core.checkpoint import Checkpointer

    save = Checkpointer.save

    def save_then_die(self, epoch, **extra):
        save(self, epoch, **extra)
        if self.stage == "utility":
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpointer, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _fit(tiny_models, checkpoint_dir=tmp_path)
    monkeypatch.undo()
    resumed = _fit(tiny_models, checkpoint_dir=tmp_path)
    assert resumed.log == fitted.log and _same_weights(resumed, fitted)


def test_a_checkpoint_of_the_previous_design_is_refused(fitted, tmp_path):
    fitted.save(tmp_path / "v2.pt")
    again = create_method("collective")
    again.load(tmp_path / "v2.pt")
    assert _same_weights(again, fitted)
    torch.save({"method": "collective", "version": "1", "state": fitted.state_dict()}, tmp_path / "v1.pt")
    with pytest.raises(VPBenchError, match="collective checkpoint of version 1 .* train it again"):
        create_method("collective").load(tmp_path / "v1.pt")
