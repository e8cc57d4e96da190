"""Result JSONs in `vpbench evaluate`'s schema, built with the writer's own type
(:class:`vpbench.results.EvaluationResult`), so leaderboard tests need no training."""

from __future__ import annotations

import json
from pathlib import Path

from vpbench.core.attributes import ATTRIBUTES
from vpbench.results import EvaluationResult, load_result_file


def result_doc(
    protocol="known",
    dataset="synth-hmdb51",
    method="raw",
    top1=0.8,
    f1=0.7,
    cmap=80.0,
    options=None,
    seed=0,
    profile="cpu",
    protocol_version=1,
    run=None,
    width=0.05,
    suite=None,
    deploy_options=None,
) -> dict:
    """One result document. ``suite`` defaults to what the dataset is: "synth" for synth-*, else "real"."""
    options = dict(options or {})
    if run is None:
        run = "-".join([profile, f"seed{seed}", *(f"{k}{v}" for k, v in sorted(options.items()))])
    if suite is None:
        suite = "synth" if dataset.startswith("synth-") else "real"

    def score(value, scale, higher):
        return {
            "value": value,
            "ci_low": value - width * scale,
            "ci_high": value + width * scale,
            "higher_is_better": higher,
        }

    return EvaluationResult(
        protocol={"name": protocol, "version": protocol_version, "suite": suite, "fold": 1},
        method={
            "name": method,
            "version": "1",
            "origin": "builtin",
            "learned": method == "stprivacy",
            "options": options,
            "deploy_options": list(
                deploy_options if deploy_options is not None else ["keep_ratio"] if method == "stprivacy" else []
            ),
            "trained_on": None,
        },
        dataset={"name": dataset, "method_trained_on": dataset, "content_sha256": "0" * 64},
        run=run,
        seed=seed,
        randomness={
            "seed": seed,
            "seeds": {
                "method_fit": seed,
                "action_recognizer": seed + 1,
                "privacy_recognizer": seed + 2,
                "bootstrap": seed,
            },
        },
        hardware={
            "device": "cpu",
            "device_name": "x86_64",
            "requested_device": "auto",
            "precision": "fp32",
            "world_size": 1,
        },
        profile=profile,
        scores={
            "action_top1": score(top1, 1, True),
            "privacy_f1": score(f1, 1, False),
            "privacy_cmap": score(cmap, 100, False),
        },
        per_attribute={a: {"ap": cmap, "f1": f1, "positives": 10} for a in ATTRIBUTES},
        per_action={"walk": top1},
        excluded_attributes=[],
        bootstrap={"samples": 20, "level": 0.95, "unit": "test videos"},
        counts={"train_videos": 20, "test_videos": 10},
        config={"whole_frame": False},
        versions={"vpbench": "test"},
        git=None,
        wall_time_s={"total": 1.0},
        date="2026-01-01T00:00:00Z",
    ).to_dict()


def write_result(root: Path, **kw) -> Path:
    """Write a result where `vpbench evaluate` would: ``root/<protocol>/<dataset>/<method>/<run>.json``."""
    doc = result_doc(**kw)
    path = Path(root) / doc["protocol"]["name"] / doc["dataset"]["name"] / doc["method"]["name"] / f"{doc['run']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True))
    return path


def write_standard_results(root: Path) -> Path:
    """Two tables: synth-hmdb51 (cpu profile: raw, two baselines, an STPrivacy keep-ratio sweep) and vp-hmdb51
    (paper profile on the real suite, so its rows show the paper's numbers)."""
    write_result(root, method="raw", top1=0.875, f1=0.84, cmap=85.8)
    write_result(root, method="downsample-4x", top1=0.89, f1=0.84, cmap=83.9)
    write_result(root, method="blackening", top1=0.45, f1=0.50, cmap=59.3)
    write_result(root, method="stprivacy", top1=0.70, f1=0.26, cmap=49.0)
    for ratio, top1, cmap in ((0.2, 0.35, 41.0), (0.5, 0.78, 60.0), (1.0, 0.86, 84.0)):
        write_result(root, method="stprivacy", options={"keep_ratio": ratio}, top1=top1, f1=0.3, cmap=cmap)
    write_result(root, dataset="vp-hmdb51", method="raw", profile="paper", top1=0.52, f1=0.67, cmap=75.0)
    write_result(root, dataset="vp-hmdb51", method="stprivacy", profile="paper", top1=0.50, f1=0.61, cmap=72.0)
    return root


def read_result(path) -> dict:
    """A result file as `vpbench evaluate` wrote it, read through the one validated path."""
    return load_result_file(path).to_dict()
