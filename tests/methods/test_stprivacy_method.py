"""STPrivacy through the engine: evaluate -> checkpoint -> keep-ratio sweep and anonymize."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.results import read_result
from tests.helpers.tiny import fit_with_card, gradient_frames, write_tiny_protocols
from vpbench.apps.anonymize import anonymize_video
from vpbench.core.errors import VPBenchError
from vpbench.data.builder import build_dataset
from vpbench.data.video import probe_video, read_video, write_video
from vpbench.evaluation import EvaluationRequest, evaluate
from vpbench.methods import create_method


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_models):
    root = tmp_path_factory.mktemp("stp")
    build_dataset("synth-hmdb51", root / "data" / "synth-hmdb51", size="tiny", seed=0, progress=False)
    protocols = write_tiny_protocols(root / "protocols")
    request = dict(
        method="stprivacy",
        protocol="known",
        suite="synth",
        dataset="synth-hmdb51",
        data_root=root / "data",
        out=root / "results",
        models_dir=tiny_models,
        protocols_dir=protocols,
        progress=False,
    )
    [path] = evaluate(EvaluationRequest(**request))
    return {"root": root, "result": path, "request": request}


def test_evaluate_saves_the_trained_state_beside_the_result(trained):
    r = read_result(trained["result"])
    ckpt = trained["result"].with_suffix(".pt")
    assert ckpt.is_file() and r["method"]["checkpoint"] == ckpt.name
    assert r["method"]["learned"] and r["method"]["trained_on"] == "synth-hmdb51"
    assert r["wall_time_s"]["fit_method"] > 0
    state = torch.load(ckpt, weights_only=True)
    assert state["method"] == "stprivacy" and "phase1" in state["state"]["log"] and "phase2" in state["state"]["log"]


def test_keep_ratio_sweep_from_one_checkpoint_needs_no_training(trained):
    ckpt = trained["result"].with_suffix(".pt")
    paths = []
    for ratio in (1.0, 0.5, 0.2):
        [p] = evaluate(
            EvaluationRequest(**{**trained["request"], "checkpoint": ckpt, "method_options": {"keep_ratio": ratio}})
        )
        paths.append(p)
        r = read_result(p)
        assert r["method"]["options"] == {"keep_ratio": ratio} and "fit_method" not in r["wall_time_s"]
    assert [p.name for p in paths] == [
        "cpu-seed0-keep_ratio1.0.json",
        "cpu-seed0-keep_ratio0.5.json",
        "cpu-seed0-keep_ratio0.2.json",
    ]


def test_lower_keep_ratio_blackens_more_tubelets(trained):
    ckpt = trained["result"].with_suffix(".pt")
    clip = torch.from_numpy(read_video(next((trained["root"] / "data" / "synth-hmdb51" / "raw").rglob("*.avi")))[:8])
    from vpbench.data.frames.decode import resize_frames

    clip = torch.from_numpy(resize_frames(clip.numpy(), (32, 40)))[None]
    black = []
    for ratio in (1.0, 0.7, 0.343, 0.1):
        m = create_method("stprivacy", keep_ratio=ratio)
        m.load(ckpt)
        black.append(float((m.transform(clip) == 0).all(-1).float().mean()))
    assert black == sorted(black) and black[-1] > black[0]


def test_anonymize_odd_size_and_length_keeps_frame_count(trained, tmp_path):
    src = write_video(tmp_path / "in.avi", gradient_frames(37, 53, 75), fps=24)
    ckpt = trained["result"].with_suffix(".pt")
    done = anonymize_video("stprivacy", src, tmp_path / "out.mp4", checkpoint=ckpt, progress=False)
    info = probe_video(tmp_path / "out.mp4")
    assert (info.num_frames, info.width, info.height) == (37, 75, 53)
    assert info.fps == pytest.approx(24.0)
    assert done["working_size"] == [32, 40] and done["frame_interval"] == 2


@pytest.mark.parametrize(
    "method,kw",
    [("raw", {}), ("downsample-4x", {}), ("blackening", {"whole_frame": True}), ("weakblur", {"boxes": True})],
)
def test_anonymize_works_for_non_learned_methods(method, kw, tmp_path):
    src = write_video(tmp_path / "in.avi", gradient_frames(19, 41, 67), fps=30)
    if kw.get("boxes"):
        (tmp_path / "boxes.csv").write_text("frame,x0,y0,x1,y1\n" + "".join(f"{t},10,5,40,30\n" for t in range(19)))
        kw = {"boxes": tmp_path / "boxes.csv"}
    anonymize_video(method, src, tmp_path / "out.avi", progress=False, **kw)
    out = read_video(tmp_path / "out.avi")
    assert out.shape == (19, 41, 67, 3)
    if method == "blackening":
        assert out.max() < 20


def test_anonymize_user_errors(trained, tmp_path):
    src = write_video(tmp_path / "in.avi", gradient_frames(10), fps=25)
    with pytest.raises(VPBenchError, match="pass --checkpoint"):
        anonymize_video("stprivacy", src, tmp_path / "o.avi", progress=False)
    with pytest.raises(VPBenchError, match="needs person boxes"):
        anonymize_video("strongblur", src, tmp_path / "o.avi", progress=False)
    with pytest.raises(VPBenchError, match="different file"):
        anonymize_video("raw", src, src, progress=False)
    assert not (tmp_path / "o.avi").exists()


def _fit_tiny(models_dir, tmp_path, **overrides):
    import numpy as np
    import yaml

    from vpbench.methods.base import FitData

    card = models_dir / "methods" / "stprivacy.yaml"
    data = yaml.safe_load(card.read_text())
    data["profiles"]["cpu"] = {**data["profiles"]["cpu"], **overrides}
    own = tmp_path / "models"
    (own / "methods").mkdir(parents=True)
    (own / "methods" / "stprivacy.yaml").write_text(yaml.safe_dump(data))
    rng = np.random.default_rng(0)
    videos = [rng.integers(0, 256, (10, 32, 40, 3), dtype=np.uint8) for _ in range(8)]
    fit = FitData(
        videos=videos, actions=np.arange(8) % 2, privacy=(rng.random((8, 5)) < 0.5).astype(np.float32), num_actions=2
    )
    m = create_method("stprivacy")
    fit_with_card(m, fit, {"clip_len": 8, "frame_size": [32, 40]}, own)
    return m


def test_pab_warm_start_moves_only_the_pab_and_lowers_reconstruction_loss(tiny_models, tmp_path):
    cold = _fit_tiny(tiny_models, tmp_path / "cold", pab_warmup_epochs=0, adv_epochs=0)
    warm = _fit_tiny(tiny_models, tmp_path / "warm", pab_warmup_epochs=4, adv_epochs=0)
    l1 = [e["l1_reconstruction"] for e in warm.log["pab_warmup"]]
    assert len(l1) == 4 and l1[-1] < l1[0]
    assert "pab_warmup" not in cold.log
    pab = ("pab.", "pab_norm.", "to_pixels.")
    cold_w, warm_w = cold.net.state_dict(), warm.net.state_dict()
    moved = {k for k in cold_w if not torch.equal(cold_w[k], warm_w[k])}
    assert moved and all(k.startswith(pab) for k in moved)
    assert all(p.requires_grad for p in warm.net.parameters())


def test_auxiliary_warm_start_trains_the_auxiliaries_and_leaves_the_network_as_it_was(tiny_models, tmp_path):
    without = _fit_tiny(tiny_models, tmp_path / "without", aux_warmup_epochs=0, adv_epochs=0)
    with_aux = _fit_tiny(tiny_models, tmp_path / "with", aux_warmup_epochs=3, adv_epochs=0)
    assert "aux_warmup" not in without.log
    losses = with_aux.log["aux_warmup"]
    assert len(losses) == 3 and all(set(e) == {"epoch", "l_action", "l_privacy", "seconds"} for e in losses)
    a, b = without.net.state_dict(), with_aux.net.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # batch statistics included


def test_adv_lr_sets_the_networks_phase_2_learning_rate_only(tiny_models, tmp_path):
    before = _fit_tiny(tiny_models, tmp_path / "before", aux_warmup_epochs=0, adv_epochs=0)
    fixed = _fit_tiny(tiny_models, tmp_path / "fixed", aux_warmup_epochs=0, adv_epochs=1, adv_lr=0.0)
    moved = _fit_tiny(tiny_models, tmp_path / "moved", aux_warmup_epochs=0, adv_epochs=1)
    # Parameters only: batch statistics move in any training pass.
    a, b, c = (dict(m.net.named_parameters()) for m in (before, fixed, moved))
    # adv_lr 0: phase 2 leaves the network's weights as phase 1 made them (phase 1 still trained at lr).
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    assert len(fixed.log["phase2"]) == 1


def test_scale_jitter_crops_and_resizes_each_training_clip(tiny_models, tmp_path):
    from vpbench.methods.stprivacy import _crop_and_resize

    x = torch.arange(2 * 3 * 2 * 8 * 10, dtype=torch.float32).reshape(2, 3, 2, 8, 10)
    y = _crop_and_resize(x, [(0, 0, 8, 10), (2, 3, 6, 8)])
    assert y.shape == x.shape and torch.equal(y[0], x[0])  # the whole-frame box is the identity
    assert y[1].amin() >= x[1, :, :, 2:6, 3:8].amin() and y[1].amax() <= x[1, :, :, 2:6, 3:8].amax()
    plain = _fit_tiny(tiny_models, tmp_path / "plain", adv_epochs=0)
    again = _fit_tiny(tiny_models, tmp_path / "again", adv_epochs=0)
    jittered = _fit_tiny(tiny_models, tmp_path / "jittered", adv_epochs=0, train_min_scale=0.8)
    a, b, c = (m.net.state_dict() for m in (plain, again, jittered))
    assert all(torch.equal(a[k], b[k]) for k in a)  # a fit is deterministic, so the difference is the jitter
    assert any(not torch.equal(a[k], c[k]) for k in a)
    for bad in (0.0, 1.5):
        with pytest.raises(VPBenchError, match="train_min_scale must be in"):
            _fit_tiny(tiny_models, tmp_path / f"bad{bad}", adv_epochs=0, train_min_scale=bad)


def test_one_backward_pass_gives_each_model_the_gradient_of_its_own_loss():
    """The adversarial step's single pass: recognizer r gets d loss_r, the transformer upstream lambda x it."""
    from vpbench.core.optim import scale_grad

    torch.manual_seed(0)
    g, r = torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)
    x, target = torch.randn(8, 4), torch.randint(0, 2, (8,))
    ce = torch.nn.functional.cross_entropy
    ce(r(scale_grad(g(x), -0.5)), target).backward()
    one_pass = [p.grad.clone() for p in (*g.parameters(), *r.parameters())]
    for p in (*g.parameters(), *r.parameters()):
        p.grad = None
    (-0.5 * ce(r(g(x)), target)).backward()  # the transformer's separate pass
    g_grads = [p.grad.clone() for p in g.parameters()]
    for p in r.parameters():
        p.grad = None
    ce(r(g(x).detach()), target).backward()  # the recognizer's separate pass
    separate = g_grads + [p.grad for p in r.parameters()]
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(one_pass, separate))
    assert not torch.allclose(one_pass[0], torch.zeros_like(one_pass[0]))
