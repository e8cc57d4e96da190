"""Declarative configs: protocol specs (protocols/*.yaml) and model cards (models/*.yaml).

They ship inside the package (``vpbench/resources``) and are read with
importlib.resources; a user can point at their own copies with
``--protocols-dir`` / ``--models-dir``. Configs hold data only, never code.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import yaml

from .errors import VPBenchError, did_you_mean, unknown_name_error


def _dir(kind: str, override: str | os.PathLike | None) -> Path:
    if override is not None:
        path = Path(override)
        if not path.is_dir():
            raise VPBenchError(f"{path}: {kind} folder not found")
        return path
    return Path(str(resources.files("vpbench") / "resources" / kind))


def _load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise VPBenchError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise VPBenchError(f"{path}: expected a mapping at the top level")
    return data


def protocol_names(protocols_dir=None) -> list[str]:
    return sorted(p.stem for p in _dir("protocols", protocols_dir).glob("*.yaml"))


def load_protocol(name: str, protocols_dir=None) -> dict:
    """A protocol spec by name, validated for the keys the runner reads."""
    names = protocol_names(protocols_dir)
    if name not in names:
        raise unknown_name_error("protocol", name, names)
    path = _dir("protocols", protocols_dir) / f"{name}.yaml"
    spec = _load_yaml(path)
    for key in ("name", "version", "suites", "metrics", "test_views", "recognizers"):
        if key not in spec:
            raise VPBenchError(f"{path}: protocol lacks '{key}'")
    if spec["name"] != name:
        raise VPBenchError(f"{path}: file is named '{name}' but declares protocol '{spec['name']}'")
    return spec


def load_card(name: str, models_dir=None) -> dict:
    """A model card (``models/<name>.yaml``)."""
    base = _dir("models", models_dir)
    path = base / f"{name}.yaml"
    if not path.is_file():
        raise unknown_name_error("model card", name, sorted(p.stem for p in base.glob("*.yaml")))
    return _load_yaml(path)


def recognizer_profile(profile: str, models_dir=None) -> dict:
    card = load_card("recognizers", models_dir)
    profiles = card.get("profiles", {})
    if profile not in profiles:
        raise unknown_name_error("profile", profile, profiles)
    return {"card_version": card.get("version"), **profiles[profile]}


def frame_interval(profile: dict, dataset: str) -> int:
    intervals = profile.get("frame_interval", {"default": 1})
    return int(intervals.get(dataset, intervals.get("default", 1)))


def method_card(name: str, models_dir=None) -> dict | None:
    """A method's card (``models/methods/<name>.yaml``), or None for a plugin that ships none."""
    path = _dir("models", models_dir) / "methods" / f"{name}.yaml"
    return _load_yaml(path) if path.is_file() else None


def one_step(settings, batch: int | None = None):
    """Profile settings with every count of epochs or steps cut to one and warm-ups to none (and, with
    ``batch``, every batch size set to it): the same networks, sizes and code paths in seconds."""
    import re

    if isinstance(settings, list):
        return [one_step(s, batch) for s in settings]
    if not isinstance(settings, dict):
        return settings
    out = {}
    for key, value in settings.items():
        if isinstance(value, (dict, list)):
            out[key] = one_step(value, batch)
        elif isinstance(value, bool) or not isinstance(value, int):
            out[key] = value
        elif key.startswith("warmup") or key.endswith("_warmup_epochs"):
            out[key] = 0
        elif key == "checkpoint_every":
            out[key] = 10**6  # a full-size checkpoint per step would cost more than the step
        elif re.search(r"(^|_)(epochs|steps|every|updates)$", key):
            out[key] = 1
        elif batch is not None and re.search(r"(^|_)batch(_size)?$", key):
            out[key] = batch
        else:
            out[key] = value
    return out


def write_one_step_models(
    dst: str | os.PathLike, profile: str = "paper", batch: int | None = None, models_dir=None
) -> Path:
    """A copy of the model cards at ``dst`` whose ``profile`` has one-step schedules (:func:`one_step`):
    what a smoke test passes as ``--models-dir`` to run a profile's every stage once."""
    import shutil

    dst = Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(_dir("models", models_dir), dst)
    for card in [dst / "recognizers.yaml", *sorted((dst / "methods").glob("*.yaml"))]:
        data = _load_yaml(card)
        if profile in (data.get("profiles") or {}):
            data["profiles"][profile] = one_step(data["profiles"][profile], batch)
            card.write_text(yaml.safe_dump(data, sort_keys=False))
    return dst


def method_settings(name: str, profile: str, models_dir=None) -> dict:
    """A learned method's settings for ``profile``: its card's ``profiles.<profile>`` (``{}`` for a plugin
    that ships no card). What the evaluation resolves and passes to ``fit``; methods read no config file."""
    card = method_card(name, models_dir)
    if card is None:
        return {}
    profiles = card.get("profiles") or {}
    if profile not in profiles:
        raise VPBenchError(
            f"models/methods/{name}.yaml has no profile '{profile}'{did_you_mean(profile, list(profiles))}; "
            f"it has: {', '.join(profiles) or 'none'}"
        )
    return dict(profiles[profile])
