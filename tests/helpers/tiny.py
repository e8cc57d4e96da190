"""The tiny benchmark's pieces: tiny videos, tiny recognizer and method profiles, tiny protocols, and the
helpers that fit and evaluate with them as `vpbench evaluate` does. Plain functions; tests/conftest.py wraps the
shared ones in fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def reference_data() -> Path | None:
    """``../shared/data`` (or ``$VPBENCH_REFERENCE_DATA``) when present."""
    path = Path(os.environ.get("VPBENCH_REFERENCE_DATA", REPO.parent / "shared" / "data"))
    return path if path.is_dir() else None


def gradient_frames(num_frames: int, height: int = 32, width: int = 64, seed: int = 0) -> np.ndarray:
    """Smooth frames that MPEG-4 keeps nearly intact; each frame differs (a moving bar)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), np.full_like(x, 128)], -1)
    frames = np.repeat(base[None], num_frames, 0).astype(np.uint8)
    color = rng.integers(0, 255, 3, dtype=np.uint8)
    for t in range(num_frames):
        x0 = (t * 3) % max(width - 8, 1)
        frames[t, :, x0 : x0 + 8] = color
    return frames


# A recognizer profile and STPrivacy profile small enough for tests (seconds, not minutes).
TINY_PROFILE = {
    "frame_size": [32, 40],
    "crop": 32,
    "clip_len": 8,
    "frame_interval": {"default": 2},
    "action": {"arch": "video-cnn", "widths": [4, 8, 16, 16]},
    "privacy": {"arch": "video-cnn", "widths": [4, 8, 16, 16]},
    "frame_privacy": {"arch": "frame-cnn", "widths": [4, 8, 8, 16]},
    "train": {"epochs": 1, "batch_size": 8, "lr": 0.002, "weight_decay": 0.05, "warmup_epochs": 0},
    "frame_train": {"epochs": 1, "batch_size": 32, "lr": 0.002, "weight_decay": 0.05, "warmup_epochs": 0},
}
TINY_STPRIVACY = {
    "tubelet": [2, 8, 8],
    "dim": 24,
    "heads": 2,
    "layers_per_psb": [1, 1, 1],
    "pab_layers": 1,
    "stem": "conv",
    "stem_channels": [8, 16],
    "alpha": 0.7,
    "lambda_action": 0.5,
    "lambda_privacy": 0.5,
    "init_epochs": 1,
    "pab_warmup_epochs": 1,
    "aux_warmup_epochs": 1,
    "adv_epochs": 1,
    "batch_size": 8,
    "lr": 0.002,
    "aux_lr": 0.002,
    "weight_decay": 0.05,
    "warmup_epochs": 0,
    "grad_clip": 1.0,
    "aux_action": {"arch": "video-cnn", "widths": [4, 8, 8, 8]},
    "aux_privacy": {"arch": "video-cnn", "widths": [4, 8, 8, 8]},
}
_TINY_BASELINE = {  # what the three learned baselines share: a few steps of every phase
    "batch_size": 4,
    "recon_steps": 2,
    "recon_batch": 4,
    "recon_frames": 2,
    "lr_recon": 0.001,
    "action_pretrain_epochs": 1,
    "lr_action_pretrain": 0.001,
    "adv_steps": 3,
    "lr_anonymizer": 0.001,
    "lr_action": 0.001,
    "grad_clip": 5.0,
    "checkpoint_every": 2,
    "action_model": {"arch": "video-cnn", "widths": [4, 8, 8, 8]},
}
TINY_VITA = {
    **_TINY_BASELINE,
    "anonymizer": {"arch": "degradation", "widths": [4, 8, 8], "blocks": 1, "outer_kernel": 3},
    "budget_models": [
        {"arch": "frame-resnet", "widths": [4, 8]},
        {"arch": "frame-mobilenet", "widths": [4, 8, 8]},
        {"arch": "frame-cnn", "widths": [4, 8, 8, 8]},
        {"arch": "frame-mobilenet", "widths": [4, 8, 8], "width_mult": 0.75},
    ],
    "num_budget_models": 2,
    "gamma": 0.5,
    "budget_batch": 4,
    "budget_frames": 2,
    "val_share": 0.25,
    "restart_every": 2,
    "restart_pretrain_steps": 1,
    "budget_updates": 2,
    "action_threshold": 0.7,
    "max_action_updates": 1,
    "lr_budget": 0.001,
}
TINY_SPACT = {
    **_TINY_BASELINE,
    "anonymizer": {"arch": "unet", "width": 4, "depth": 2},
    "privacy_encoder": {"arch": "frame-resnet", "widths": [4, 8]},
    "projection": [8, 16],
    "temperature": 0.1,
    "action_weight": 1.0,
    "privacy_batch": 4,
    "privacy_pretrain_steps": 1,
    "lr_privacy": 0.001,
}
TINY_COLLECTIVE = {
    "anonymizer": {"arch": "degradation", "widths": [4, 8, 8], "blocks": 1, "outer_kernel": 3},
    "action_model": {"arch": "video-cnn", "widths": [4, 8, 8, 8]},
    "content_weight": 0.35,
    "style_weight": 0.55,
    "action_weight": 0.1,
    "noise_seed": 33,
    "action_batch": 4,
    "action_pretrain_epochs": 1,
    "lr_action_pretrain": 0.001,
    "batch_size": 4,
    "transform_epochs": 2,
    "lr_transform": 0.001,
    "grad_clip": None,
}
TINY_METHOD_PROFILES = {
    "stprivacy": TINY_STPRIVACY,
    "vita": TINY_VITA,
    "spact": TINY_SPACT,
    "collective": TINY_COLLECTIVE,
}


def write_tiny_models(models: Path) -> Path:
    """A models dir with the tiny profiles under the name ``cpu``."""
    import yaml

    (models / "methods").mkdir(parents=True, exist_ok=True)
    (models / "recognizers.yaml").write_text(
        yaml.safe_dump({"name": "recognizers", "version": 1, "profiles": {"cpu": TINY_PROFILE}})
    )
    for card in (REPO / "models" / "methods").glob("*.yaml"):
        data = yaml.safe_load(card.read_text())
        if data.get("learned"):
            data["profiles"] = (
                {"cpu": TINY_METHOD_PROFILES[data["name"]]}
                if data["name"] in TINY_METHOD_PROFILES
                else data["profiles"]
            )
        (models / "methods" / card.name).write_text(yaml.safe_dump(data))
    return models


def write_tiny_protocols(protocols: Path, samples: int = 20) -> Path:
    """The shipped protocols with few bootstrap samples (tests need speed, not tight intervals)."""
    import shutil

    import yaml

    from vpbench.core.config import _dir

    shutil.copytree(_dir("protocols", None), protocols)
    for p in protocols.glob("*.yaml"):
        spec = yaml.safe_load(p.read_text())
        spec["bootstrap"]["samples"] = samples
        p.write_text(yaml.safe_dump(spec))
    return protocols


def fit_with_card(
    method,
    data,
    profile: dict,
    models_dir,
    profile_name: str = "cpu",
    seed: int = 0,
    checkpoint_dir=None,
    frame_interval: int = 1,
):
    """Fit ``method`` as `vpbench evaluate` does: its card's settings for ``profile_name`` (from ``models_dir``),
    the clip length and frame size of the recognizer ``profile``."""
    from vpbench.core.config import method_settings
    from vpbench.methods import FitContext

    settings = method_settings(method.name, profile_name, models_dir)
    method.fit(
        data, settings, FitContext.of(profile, frame_interval, seed=seed, progress=False, checkpoint_dir=checkpoint_dir)
    )
    return method


def evaluation_request(bench: dict, out, **kw):
    """An `EvaluationRequest` on the tiny benchmark (raw, known, synth-hmdb51, no progress bars), with ``kw``
    overriding."""
    from vpbench.evaluation import EvaluationRequest

    base = dict(
        method="raw",
        protocol="known",
        suite="synth",
        dataset="synth-hmdb51",
        data_root=bench["data"],
        out=out,
        models_dir=bench["models"],
        protocols_dir=bench["protocols"],
        progress=False,
    )
    return EvaluationRequest(**{**base, **kw})
