"""The learned baselines VITA, SPAct and Collective: their losses, their rules, and a fit through the engine."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers.results import read_result
from tests.helpers.tiny import TINY_PROFILE, fit_with_card, gradient_frames, write_tiny_protocols
from vpbench.apps.anonymize import anonymize_video
from vpbench.core.config import method_settings
from vpbench.core.errors import VPBenchError
from vpbench.data.builder import build_dataset
from vpbench.data.video import probe_video, write_video
from vpbench.evaluation import EvaluationRequest, evaluate
from vpbench.methods import FitData, create_method
from vpbench.methods.collective import content_loss, gram, loss_layers, noise_clip, noise_grams, transformation_loss
from vpbench.methods.spact import anonymizer_loss, augment, nt_xent
from vpbench.methods.vita import BudgetEnsemble, budget_loss, degradation_loss
from vpbench.networks.anonymizers import AnonymizerConfig, FrameAnonymizer
from vpbench.networks.frame_models import ProjectedEncoder, create_frame_model
from vpbench.networks.recognizers import create_recognizer

BASELINES = ["vita", "spact", "collective"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    """Every test of this file on one thread (tests/conftest.py: one_thread)."""


def _video(b=2, t=4, h=16, w=20, seed=0) -> torch.Tensor:
    return torch.rand(b, 3, t, h, w, generator=torch.Generator().manual_seed(seed))


def _anonymizer(arch: str) -> FrameAnonymizer:
    options = (
        {"widths": [4, 8, 8], "blocks": 1, "outer_kernel": 3} if arch == "degradation" else {"width": 4, "depth": 2}
    )
    torch.manual_seed(0)
    return FrameAnonymizer(AnonymizerConfig(arch, options, 16, 20, 4))


def _descends(loss_fn, net: nn.Module, steps: int = 5, lr: float = 1e-2) -> tuple[float, float]:
    """Loss before and after a few Adam steps on the anonymizer only, everything else fixed."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    first = None
    for _ in range(steps):
        loss = loss_fn()
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return first, loss_fn().item()


# --- networks ------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["degradation", "unet"])
@pytest.mark.parametrize("hw", [(16, 20), (13, 19)])
def test_anonymizer_keeps_shape_and_pixel_range_even_for_odd_sizes(arch, hw):
    net = _anonymizer(arch).eval()
    x = torch.cat([torch.zeros(1, 3, 2, *hw), torch.ones(1, 3, 2, *hw), _video(1, 2, *hw)])
    y = net(x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize(
    "spec",
    [
        {"arch": "frame-resnet", "widths": [4, 8]},
        {"arch": "frame-mobilenet", "widths": [4, 8, 8], "width_mult": 0.75},
        {"arch": "frame-cnn", "widths": [4, 8, 8, 8]},
    ],
)
def test_frame_models_of_every_family_give_logits(spec):
    assert create_frame_model(spec, 5)(torch.rand(3, 3, 16, 20)).shape == (3, 5)


def test_unknown_anonymizer_or_frame_model_is_a_user_error():
    with pytest.raises(VPBenchError, match="did you mean 'unet'"):
        FrameAnonymizer(AnonymizerConfig("unett"))
    with pytest.raises(VPBenchError, match="frame model architecture"):
        create_frame_model({"arch": "frame-vgg"}, 5)


# --- VITA -------------------------------------------------------------------------------------


class _Const(nn.Module):
    """A hand-made 'budget model': the same logits for every frame, plus a parameter that restarting resets."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits, dtype=torch.float32)
        self.lin = nn.Linear(2, 2)

    def forward(self, frames):
        return self.logits.expand(frames.shape[0], -1)


def test_budget_loss_is_the_per_sample_maximum_over_the_ensemble():
    a = torch.tensor([[4.0, 4.0], [-3.0, 0.0]])  # model a: sure of sample 0, unsure of sample 1
    b = torch.tensor([[-2.0, 1.0], [5.0, 5.0]])  # model b: the opposite

    def ce(z):  # sigmoid CE to an all-ones target, mean over attributes
        return torch.log1p(torch.exp(-z)).mean(1)

    expected = torch.stack([torch.maximum(ce(a)[i], ce(b)[i]) for i in range(2)]).mean()
    assert torch.allclose(budget_loss([a, b]), expected)
    assert budget_loss([a, b]) > max(budget_loss([a]), budget_loss([b]))  # per sample, not per model
    assert torch.allclose(budget_loss([a]), ce(a).mean())


def test_budget_ensemble_averages_each_models_logits_over_frames():
    frame_model = nn.Sequential(nn.Flatten(), nn.LazyLinear(3))
    ens = BudgetEnsemble([frame_model, _Const([1.0, 2.0, 3.0])])
    v = _video(2, 5, 4, 4)
    out = ens(v)
    per_frame = frame_model(v.transpose(1, 2).reshape(10, 3, 4, 4)).reshape(2, 5, 3)
    assert len(out) == 2 and torch.allclose(out[0], per_frame.mean(1))
    assert torch.equal(out[1], torch.tensor([[1.0, 2.0, 3.0]] * 2))


def test_restarting_reinitializes_every_budget_model_reproducibly_and_leaves_the_random_stream_alone():
    ens = BudgetEnsemble([_Const([0.0]), create_frame_model({"arch": "frame-resnet", "widths": [4, 8]}, 5)])
    with torch.no_grad():
        for p in ens.parameters():
            p.fill_(0.5)  # "trained"
    trained = [p.clone() for p in ens.parameters()]
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    ens.restart(seed=7)
    assert torch.equal(torch.rand(3), expected_next)
    first = [p.clone() for p in ens.parameters()]
    weights = [(a, b) for a, b in zip(trained, first) if a.ndim > 1]
    assert weights and all(not torch.equal(a, b) for a, b in weights)
    ens.restart(seed=7)
    assert all(torch.equal(a, b) for a, b in zip(first, ens.parameters()))
    ens.restart(seed=8)
    assert any(not torch.equal(a, b) for a, b in zip(first, ens.parameters()))


def test_vita_degradation_step_lowers_its_loss_on_a_fixed_batch():
    net = _anonymizer("degradation")
    action = create_recognizer({"arch": "video-cnn", "widths": [4, 8, 8, 8]}, 3, 4, (16, 20)).eval()
    budget = BudgetEnsemble(
        [
            create_frame_model({"arch": "frame-resnet", "widths": [4, 8]}, 5),
            create_frame_model({"arch": "frame-mobilenet", "widths": [4, 8, 8]}, 5),
        ]
    ).eval()
    clips, labels = _video(4), torch.tensor([0, 1, 2, 0])
    rng = np.random.default_rng(0)
    before, after = _descends(lambda: degradation_loss(net, action, budget, clips, labels, 0.5, 4, rng)[0], net)
    assert after < before


def _fit(name, models_dir, privacy=None, seed=0, videos=8, checkpoint_dir=None, **options):
    rng = np.random.default_rng(0)
    data = FitData(
        videos=[rng.integers(0, 256, (6, 32, 40, 3), dtype=np.uint8) for _ in range(videos)],
        actions=rng.integers(0, 3, videos),
        privacy=rng.integers(0, 2, (videos, 5)).astype(np.float32) if privacy is None else privacy,
        num_actions=3,
    )
    method = create_method(name, **options)
    fit_with_card(method, data, {**TINY_PROFILE, "clip_len": 4}, models_dir, seed=seed, checkpoint_dir=checkpoint_dir)
    return method


@pytest.fixture(scope="module")
def fitted(tiny_models):
    """Each baseline fitted once with its tiny profile, on 8 random videos."""
    return {name: _fit(name, tiny_models) for name in BASELINES}


def test_vita_restarts_on_schedule_and_only_at_step_0_without_restarting(tiny_models, monkeypatch):
    from vpbench.methods import vita

    calls = []
    original = vita.BudgetEnsemble.restart

    def counted(self, seed):
        calls.append(seed)
        original(self, seed)

    monkeypatch.setattr(vita.BudgetEnsemble, "restart", counted)
    m = _fit("vita", tiny_models)  # tiny profile: 3 adversarial steps, restart every 2, 2 budget updates a step
    assert m.log["restarts"] == [0, 2] and len(m.log["steps"]) == 3
    assert calls == [0 * 7919 + 1, 0 * 7919 + 3]  # really re-initialized, at steps 0 and 2
    assert [s["restarted"] for s in m.log["steps"]] == [True, False, True]
    assert [s["budget_updates"] for s in m.log["steps"]] == [2, 2, 2]
    assert [s["restart_pretrain_steps"] for s in m.log["steps"]] == [1, 0, 1]
    calls.clear()
    alone = _fit("vita", tiny_models, restarting=False)
    assert alone.log["restarts"] == [0] and len(calls) == 1
    assert [s["restarted"] for s in alone.log["steps"]] == [True, False, False]


def test_vita_restart_reinitializes_every_member_from_its_seed():
    from vpbench.methods.vita import BudgetEnsemble
    from vpbench.networks.frame_models import create_frame_model

    torch.manual_seed(0)
    ens = BudgetEnsemble(
        [
            create_frame_model({"arch": "frame-resnet", "widths": [4, 8]}, 5),
            create_frame_model({"arch": "frame-cnn", "widths": [4, 8, 8, 8]}, 5),
        ]
    )
    before = [p.detach().clone() for p in ens.parameters()]
    ens.restart(11)
    first = [p.detach().clone() for p in ens.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(before, first))
    ens.restart(11)
    assert all(torch.equal(a, b) for a, b in zip(first, ens.parameters()))


def test_vita_updates_the_action_model_only_while_below_the_accuracy_threshold(tiny_models, tmp_path):
    import yaml

    from tests.helpers.tiny import write_tiny_models

    card = tiny_models / "methods" / "vita.yaml"
    for threshold, expected in ((0.0, 0), (1.01, 1)):  # tiny profile: at most one action update per step
        models = write_tiny_models(tmp_path / f"t{threshold}")
        data = yaml.safe_load(card.read_text())
        data["profiles"]["cpu"]["action_threshold"] = threshold
        (models / "methods" / "vita.yaml").write_text(yaml.safe_dump(data))
        assert [s["action_updates"] for s in _fit("vita", models).log["steps"]] == [expected] * 3


def test_vita_options_are_checked():
    with pytest.raises(VPBenchError, match="budget_models must be 1 to 4"):
        create_method("vita", budget_models=5)
    with pytest.raises(VPBenchError, match="method 'vita' has no option 'gama' \\(did you mean 'gamma'\\?\\)"):
        create_method("vita", gama=0.5)


# --- SPAct ------------------------------------------------------------------------------------


def test_nt_xent_matches_the_direct_formula():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    tau, n = 0.1, 3
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        sims = {k: float(z[i] @ z[k]) / tau for k in range(2 * n) if k != i}
        total += -math.log(math.exp(sims[positive]) / sum(math.exp(v) for v in sims.values()))
    assert nt_xent(z1, z2, tau).item() == pytest.approx(total / (2 * n), rel=1e-5)
    assert nt_xent(z1, z1, tau) < nt_xent(z1, z2, tau)  # identical views are the easy case


def test_spact_augmentations_keep_shape_and_range_and_differ_between_views():
    frames = _video(1, 4, 16, 20)[0].transpose(0, 1)
    rng = np.random.default_rng(0)
    a, b = augment(frames, rng), augment(frames, rng)
    assert a.shape == frames.shape and a.min() >= 0 and a.max() <= 1 and not torch.equal(a, b)


def test_spact_anonymizer_step_lowers_its_loss_on_a_fixed_batch():
    net = _anonymizer("unet")
    action = create_recognizer({"arch": "video-cnn", "widths": [4, 8, 8, 8]}, 3, 4, (16, 20)).eval()
    privacy = ProjectedEncoder(create_frame_model({"arch": "frame-resnet", "widths": [4, 8]}, 0), 8, 16).eval()
    frames = _video(1, 6)[0].transpose(0, 1)
    rng = np.random.default_rng(0)
    v1, v2 = augment(frames, rng), augment(frames, rng)
    clips, labels = _video(4, seed=1), torch.tensor([0, 1, 2, 0])
    before, after = _descends(lambda: anonymizer_loss(net, action, privacy, v1, v2, clips, labels, 1.0, 0.1)[0], net)
    assert after < before


class _Untouchable:
    """Privacy labels that fail any use: SPAct must train without ever reading them."""

    def __getattribute__(self, name):
        raise AssertionError(f"SPAct read the privacy labels ({name})")

    def __len__(self):
        raise AssertionError("SPAct read the privacy labels (len)")

    def __array__(self, *args, **kwargs):
        raise AssertionError("SPAct read the privacy labels (as an array)")


def test_spact_never_reads_privacy_labels(fitted, tiny_models):
    blind = _fit("spact", tiny_models, privacy=_Untouchable())
    assert blind.log["steps"]
    # and the labels do not matter at all: the run with real labels trained the very same anonymizer
    assert all(
        torch.equal(a, b) for a, b in zip(blind.net.state_dict().values(), fitted["spact"].net.state_dict().values())
    )


# --- Collective -------------------------------------------------------------------------------


def test_collective_transformation_step_lowers_its_loss_on_a_fixed_batch():
    net = _anonymizer("degradation")
    utility = create_recognizer({"arch": "video-cnn", "widths": [4, 8, 8, 8]}, 3, 4, (16, 20)).eval()
    utility.requires_grad_(False)
    layers = loss_layers(4)
    targets = noise_grams(utility, noise_clip(4, 16, 20, 33), layers[1])
    clips, labels = _video(4), torch.tensor([0, 1, 2, 0])
    weights = (0.35, 0.55, 0.1)
    before, after = _descends(
        lambda: transformation_loss(net, utility, clips, labels, targets, layers, weights)[0], net
    )
    assert after < before


# --- every baseline -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_fit_is_deterministic_and_save_load_round_trips(name, fitted, tiny_models, tmp_path):
    a, b = fitted[name], _fit(name, tiny_models)
    v = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (2, 5, 32, 40, 3), dtype=np.uint8))
    out = a.transform(v)
    assert torch.equal(out, b.transform(v)) and out.shape == v.shape and out.dtype == torch.uint8
    a.save(tmp_path / "m.pt")
    again = create_method(name)
    again.load(tmp_path / "m.pt")
    assert torch.equal(again.transform(v), out) and again.log == a.log and again.frame_interval == a.frame_interval


@pytest.mark.parametrize("name", BASELINES)
def test_killed_fit_resumes_from_its_checkpoint_to_the_same_result(name, fitted, tiny_models, tmp_path, monkeypatch):
    from vpbench.core.checkpoint import Checkpointer

    save = Checkpointer.save

    # the process dies right after the first checkpoint of the adversarial stage (Collective: its transformation)
    def save_then_die(self, epoch, **extra):
        save(self, epoch, **extra)
        if self.stage in ("adversarial", "minimax", "transformation") and epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpointer, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _fit(name, tiny_models, checkpoint_dir=tmp_path)
    monkeypatch.undo()
    assert (tmp_path / "fit.pt").is_file()
    resumed = _fit(name, tiny_models, checkpoint_dir=tmp_path)
    whole = fitted[name]
    assert resumed.log == whole.log
    assert all(torch.equal(a, b) for a, b in zip(resumed.net.state_dict().values(), whole.net.state_dict().values()))
    with pytest.raises(VPBenchError, match="other settings"):  # a checkpoint of another run is refused, not continued
        _fit(name, tiny_models, checkpoint_dir=tmp_path, seed=1)


@pytest.mark.parametrize("name", BASELINES)
def test_untrained_or_wrong_size_input_is_a_user_error(name, fitted):
    with pytest.raises(VPBenchError, match="not trained"):
        create_method(name).transform(torch.zeros(1, 2, 32, 40, 3, dtype=torch.uint8))
    with pytest.raises(VPBenchError, match="trained on 32x40 frames, got 16x16"):
        fitted[name].transform(torch.zeros(1, 2, 16, 16, 3, dtype=torch.uint8))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, tiny_models):
    """Each baseline fitted and evaluated through the engine on tiny VP-Synth with the tiny profiles."""
    root = tmp_path_factory.mktemp("baselines")
    build_dataset("synth-hmdb51", root / "data" / "synth-hmdb51", size="tiny", seed=0, progress=False)
    protocols = write_tiny_protocols(root / "protocols")
    paths = {}
    for name in BASELINES:
        [paths[name]] = evaluate(
            EvaluationRequest(
                method=name,
                protocol="known",
                suite="synth",
                dataset="synth-hmdb51",
                data_root=root / "data",
                out=root / "results",
                models_dir=tiny_models,
                protocols_dir=protocols,
                progress=False,
            )
        )
    return paths


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_fits_through_the_engine_and_anonymizes_any_video(name, evaluated, tiny_models, tmp_path):
    r = read_result(evaluated[name])
    ckpt = evaluated[name].with_suffix(".pt")
    assert (
        r["method"]["learned"]
        and r["method"]["trained_on"] == "synth-hmdb51"
        and r["method"]["checkpoint"] == ckpt.name
    )
    # the result names the recipe that made it: the card's profile, resolved (here the tiny models' cpu profile)
    assert r["method"]["settings"] == method_settings(name, "cpu", tiny_models)
    assert r["wall_time_s"]["fit_method"] > 0 and 0 <= r["scores"]["action_top1"]["value"] <= 1
    src = write_video(tmp_path / "in.avi", gradient_frames(21, 37, 53), fps=24)
    done = anonymize_video(name, src, tmp_path / "out.mp4", checkpoint=ckpt, progress=False)
    info = probe_video(tmp_path / "out.mp4")
    assert (info.num_frames, info.width, info.height) == (21, 53, 37)
    assert done["working_size"] == [32, 40] and done["frame_interval"] == 2


def test_each_anonymizer_objective_is_its_stated_combination_of_independently_computed_parts():
    import torch.nn.functional as F

    from vpbench.core.tensors import normalized

    torch.manual_seed(0)
    clips, labels = _video(4), torch.tensor([0, 1, 2, 0])
    action = create_recognizer({"arch": "video-cnn", "widths": [4, 8, 8, 8]}, 3, 4, (16, 20)).eval()
    with torch.no_grad():
        # VITA: L_T + gamma * L_B, L_T the action cross-entropy on the degraded clips.
        net = _anonymizer("degradation").eval()
        budget = BudgetEnsemble([create_frame_model({"arch": "frame-resnet", "widths": [4, 8]}, 5)]).eval()
        total, l_t, l_b = degradation_loss(net, action, budget, clips, labels, 0.5, 4, np.random.default_rng(0))
        assert torch.allclose(l_t, F.cross_entropy(action(normalized(net(clips))), labels))
        assert torch.allclose(total, l_t + 0.5 * l_b) and l_b > 0
        # SPAct: -NT-Xent + w * CE (the anonymizer maximizes the privacy branch's contrastive loss).
        unet = _anonymizer("unet").eval()
        privacy = ProjectedEncoder(create_frame_model({"arch": "frame-resnet", "widths": [4, 8]}, 0), 8, 16).eval()
        v1, v2 = _video(1, 6, seed=2)[0].transpose(0, 1), _video(1, 6, seed=3)[0].transpose(0, 1)
        total, l_b, l_t = anonymizer_loss(unet, action, privacy, v1, v2, clips, labels, 2.0, 0.1)
        direct_b = nt_xent(privacy(normalized(unet.frames(v1))), privacy(normalized(unet.frames(v2))), 0.1)
        assert torch.allclose(l_b, direct_b) and torch.allclose(
            l_t, F.cross_entropy(action(normalized(unet(clips))), labels)
        )
        assert torch.allclose(total, -l_b + 2.0 * l_t)
        # Collective: w_c * content + w_s * style (Gram towards noise) + w_a * CE of the frozen utility model.
        layers = loss_layers(4)
        noise = noise_clip(4, 16, 20, 33)
        targets = noise_grams(action, noise, layers[1])
        total, l_c, l_s, l_a = transformation_loss(net, action, clips, labels, targets, layers, (0.35, 0.55, 0.1))
        out, raw = normalized(net(clips)), normalized(clips)
        feats = [action.features[: i + 1](out).flatten(2) for i in range(4)]
        raw_feats = [action.features[: i + 1](raw).flatten(2) for i in range(4)]
        noise_feats = [action.features[: i + 1](normalized(noise)).flatten(2) for i in range(4)]
        assert torch.allclose(l_c, content_loss(feats[3], raw_feats[3]))
        direct_s = sum(((gram(feats[i]) - gram(noise_feats[i])) ** 2).sum((1, 2)).mean() for i in (1, 3))
        assert torch.allclose(l_s, direct_s) and torch.allclose(l_a, F.cross_entropy(action(out), labels))
        assert torch.allclose(total, 0.35 * l_c + 0.55 * l_s + 0.1 * l_a)
