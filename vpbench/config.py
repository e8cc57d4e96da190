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

from .errors import VPBenchError, unknown_name_error


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
