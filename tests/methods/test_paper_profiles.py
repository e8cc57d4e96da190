"""Every paper profile runs, on the CPU, at full network size with a one-step schedule.

The paper profiles are meant for GPUs; a config or shape error in one must fail here, not an
hour into a GPU job. Each learned method fits its paper-profile networks (ViT-S, ResNets, U-Net
at 128x160 and 16 frames) on four tiny videos with every stage cut to one step and batches of two,
then transforms a clip; the evaluation's paper recognizers each take one training step and predict.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from tests.helpers.tiny import fit_with_card
from vpbench.core.config import method_card, recognizer_profile, write_one_step_models
from vpbench.data.frames.store import FrameStore
from vpbench.evaluation.engine import (
    TrainConfig,
    predict_frames,
    predict_videos,
    train_frame_recognizer,
    train_video_recognizer,
)
from vpbench.methods import FitData, create_method
from vpbench.networks.recognizers import create_recognizer

pytestmark = pytest.mark.slow

PAPER = recognizer_profile("paper")
H, W = PAPER["frame_size"]
CLIP = int(PAPER["clip_len"])
LEARNED = ("stprivacy", "vita", "spact", "collective")


@pytest.fixture(scope="module")
def paper_models(tmp_path_factory):
    """A models folder whose paper profiles are the shipped ones with one-step schedules."""
    return write_one_step_models(tmp_path_factory.mktemp("paper-models") / "models", batch=2)


def _videos(n: int, frames: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (frames, H, W, 3), dtype=np.uint8) for _ in range(n)]


def _vit_s_state(tmp_path) -> str:
    """A timm-format ViT-S/16 state dict at ImageNet shape (random values): what the paper profile loads."""
    d, blocks = 384, 12
    state = {
        "pos_embed": torch.randn(1, 197, d) * 0.02,
        "cls_token": torch.zeros(1, 1, d),
        "patch_embed.proj.weight": torch.randn(d, 3, 16, 16) * 0.02,
        "patch_embed.proj.bias": torch.zeros(d),
    }
    for i in range(blocks):
        for name, shape in {
            "norm1.weight": (d,),
            "norm1.bias": (d,),
            "attn.qkv.weight": (3 * d, d),
            "attn.qkv.bias": (3 * d,),
            "attn.proj.weight": (d, d),
            "attn.proj.bias": (d,),
            "norm2.weight": (d,),
            "norm2.bias": (d,),
            "mlp.fc1.weight": (4 * d, d),
            "mlp.fc1.bias": (4 * d,),
            "mlp.fc2.weight": (d, 4 * d),
            "mlp.fc2.bias": (d,),
        }.items():
            state[f"blocks.{i}.{name}"] = torch.randn(shape) * 0.02
    path = tmp_path / "deit_s.pth"
    torch.save(state, path)
    return str(path)


@pytest.mark.parametrize("name", LEARNED)
def test_each_learned_method_fits_its_paper_profile_for_one_step(name, paper_models, tmp_path):
    torch.manual_seed(0)
    options = {"init_weights": _vit_s_state(tmp_path)} if name == "stprivacy" else {}
    method = create_method(name, **options)
    assert "paper" in method_card(name)["profiles"]
    # Two videos, batches of two: one step per epoch.
    data = FitData(
        videos=_videos(2, 2 * CLIP), actions=np.array([0, 1]), privacy=np.eye(2, 5, dtype=np.float32), num_actions=2
    )
    fit_with_card(method, data, recognizer_profile("paper", paper_models), paper_models, "paper", frame_interval=2)
    clip = torch.from_numpy(np.stack(_videos(1, CLIP)))
    masks = torch.ones(clip.shape[:4], dtype=torch.bool) if method.needs_person_masks else None
    with torch.no_grad():
        out = method.transform(clip, masks)
    assert out.shape == clip.shape and out.dtype == torch.uint8
    if name == "stprivacy":
        # every block, the patch kernel and bias, the positions
        assert len(method.log["init_weights"]["used"]) == 12 * 12 + 3
    method.save(tmp_path / "m.pt")
    again = create_method(name)
    again.load(tmp_path / "m.pt")
    with torch.no_grad():
        assert torch.equal(again.transform(clip, masks), out)


def test_the_paper_recognizers_train_one_step_and_predict(paper_models):
    profile = recognizer_profile("paper", paper_models)
    crop = int(profile["crop"])
    frames = np.concatenate(_videos(3, CLIP))
    store = FrameStore.from_offsets(
        frames, np.arange(4) * CLIP, ["a", "b", "c"], frame_labels=np.eye(len(frames), 5, dtype=np.int8)
    )
    cfg = TrainConfig.from_dict({**profile["train"], "clip_len": CLIP, "crop": crop})
    for task, outputs, targets in (("action", 3, np.array([0, 1, 2])), ("privacy", 5, np.eye(3, 5, dtype=np.float32))):
        torch.manual_seed(0)
        model = create_recognizer(copy.deepcopy(profile[task]), outputs, CLIP, crop)
        train_video_recognizer(model, store, np.arange(3), targets, task, cfg, 0, False, task)
        probs = predict_videos(model, store, np.arange(3), task, CLIP, crop, 1, 1, False, task)
        assert probs.shape == (3, outputs) and np.isfinite(probs).all()
    frame_model = create_recognizer(copy.deepcopy(profile["frame_privacy"]), 5, CLIP, crop)
    frame_cfg = TrainConfig.from_dict({**profile["frame_train"], "clip_len": 1, "crop": crop})
    train_frame_recognizer(frame_model, store, np.arange(2), frame_cfg, 0, False)
    probs, labels, owner = predict_frames(frame_model, store, np.arange(2, 3), crop, 1)
    assert probs.shape == (CLIP, 5) and labels.shape == (CLIP, 5) and (owner == 2).all()
