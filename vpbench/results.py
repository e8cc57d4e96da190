"""Result files: where they live, their schema, and loading them validated.

`vpbench evaluate` writes one JSON per evaluation at
``<results>/<protocol>/<dataset>/<method>/<run>.json``; everything that reads
results (the leaderboard, scripts) goes through :func:`load_results` so a
malformed or incomparable file is refused in one place, with its path named.
This module imports no torch: rebuilding a leaderboard needs only the JSON.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import VPBenchError

RESULT_SCHEMA_VERSION = 1

# The three headline scores; each is {value, ci_low, ci_high} (top-1 and F1 fractions, cMAP percent).
SCORES = ("action_top1", "privacy_f1", "privacy_cmap")

# Keys every result of the current schema carries, as dotted paths; the
# leaderboard reads all of them, so a file lacking one is refused, not guessed.
_REQUIRED: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("schema_version", int),
    ("protocol.name", str),
    ("protocol.version", (int, str)),
    ("dataset.name", str),
    ("method.name", str),
    ("method.version", (int, str)),
    ("method.options", dict),
    ("run", str),
    ("seed", int),
    ("per_attribute", dict),
    ("profile", str),
    ("bootstrap.level", (int, float)),
    ("config", dict),
    *((f"scores.{s}.{k}", (int, float)) for s in SCORES for k in ("value", "ci_low", "ci_high")),
)

PREVIEW_SUFFIX = ".preview.png"


def preview_path(result_path: str | os.PathLike) -> Path:
    """Where `vpbench evaluate` puts the raw/transformed frame strip of a result: ``<run>.preview.png``."""
    path = Path(result_path)
    return path.with_name(path.stem + PREVIEW_SUFFIX)


def _lookup(doc: dict, dotted: str):
    node = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def validate_result(doc, path: str | os.PathLike) -> dict:
    """Return ``doc`` if it is a result of the current schema; else raise a one-line error naming ``path`` and the key."""
    if not isinstance(doc, dict):
        raise VPBenchError(f"{path}: not a result file (expected a JSON object)")
    if "schema_version" in doc and doc["schema_version"] != RESULT_SCHEMA_VERSION:
        raise VPBenchError(f"{path}: result schema version {doc['schema_version']!r}, this vpbench reads version {RESULT_SCHEMA_VERSION}")
    for key, kind in _REQUIRED:
        try:
            value = _lookup(doc, key)
        except KeyError:
            raise VPBenchError(f"{path}: missing key '{key}'") from None
        # bool is an int subclass; a true/false score or seed is a corrupted file, not a number.
        if isinstance(value, bool) or not isinstance(value, kind):
            raise VPBenchError(f"{path}: '{key}' has the wrong type ({type(value).__name__})")
        if key.startswith("scores.") and not math.isfinite(value):
            raise VPBenchError(f"{path}: '{key}' is not a finite number ({value})")
    for name in SCORES:
        s = doc["scores"][name]
        if not s["ci_low"] <= s["value"] <= s["ci_high"]:
            raise VPBenchError(f"{path}: 'scores.{name}' value {s['value']} lies outside its interval [{s['ci_low']}, {s['ci_high']}]")
    return doc


@dataclass(frozen=True)
class Result:
    """One validated result file."""

    path: Path  # the file as found
    relpath: str  # relative to the results folder, with '/' separators (stable across machines)
    doc: dict

    @property
    def protocol(self) -> str:
        return self.doc["protocol"]["name"]

    @property
    def dataset(self) -> str:
        return self.doc["dataset"]["name"]

    @property
    def method(self) -> str:
        return self.doc["method"]["name"]

    @property
    def options(self) -> dict:
        return self.doc["method"]["options"]

    @property
    def run(self) -> str:
        return self.doc["run"]

    def score(self, name: str) -> tuple[float, float, float]:
        s = self.doc["scores"][name]
        return float(s["value"]), float(s["ci_low"]), float(s["ci_high"])

    @property
    def preview(self) -> Path | None:
        path = preview_path(self.path)
        return path if path.is_file() else None


def load_result_file(path: str | os.PathLike) -> dict:
    """One result file, parsed and validated."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise VPBenchError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None
    except json.JSONDecodeError as exc:
        raise VPBenchError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return validate_result(doc, path)


def find_result_files(root: str | os.PathLike) -> list[Path]:
    """Every ``<protocol>/<dataset>/<method>/<run>.json`` under ``root``, sorted (hidden temp files skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise VPBenchError(f"{root}: results folder not found")
    return sorted(p for p in root.glob("*/*/*/*.json") if p.is_file() and not p.name.startswith("."))


# The parts of a result's path and the keys of the document that must name the same thing.
_LOCATION = (("protocol", "protocol.name"), ("dataset", "dataset.name"), ("method", "method.name"), ("run", "run"))


def check_result_location(result: Result) -> None:
    """Refuse a result whose document disagrees with its place ``<protocol>/<dataset>/<method>/<run>.json``.

    The leaderboard groups and names rows by the document while previews and links follow the path:
    a result copied or renamed into another method's folder would give two rows of one method and
    overwrite one's preview with the other's."""
    *folders, name = result.relpath.split("/")
    where = dict(zip(("protocol", "dataset", "method"), folders))
    where["run"] = name[: -len(".json")] if name.endswith(".json") else name
    said = {"protocol": result.protocol, "dataset": result.dataset, "method": result.method, "run": result.run}
    wrong = [(part, key) for part, key in _LOCATION if said[part] != where.get(part)]
    if wrong:
        detail = "; ".join(f"{key} is '{said[part]}' but its {part} {'file name' if part == 'run' else 'folder'} is '{where.get(part)}'"
                           for part, key in wrong)
        expected = f"{said['protocol']}/{said['dataset']}/{said['method']}/{said['run']}.json"
        raise VPBenchError(f"{result.path}: {detail}; a result lives at <protocol>/<dataset>/<method>/<run>.json, here {expected}")


def load_results(root: str | os.PathLike, current_versions: dict[str, int | str] | None = None) -> list[Result]:
    """All results under ``root``, validated; refuses an empty folder and mixed versions of one protocol.

    ``current_versions`` (protocol name -> version, from the protocol specs in use): a result of a
    known protocol at any other version is refused too, even when all results agree with each other."""
    root = Path(root)
    files = find_result_files(root)
    if not files:
        raise VPBenchError(f"{root}: no result files (expected <protocol>/<dataset>/<method>/<run>.json, as `vpbench evaluate --out` writes)")
    results = [Result(p, p.relative_to(root).as_posix(), load_result_file(p)) for p in files]
    for r in results:
        check_result_location(r)
    for r in results:
        want = (current_versions or {}).get(r.protocol)
        if want is not None and r.doc["protocol"]["version"] != want:
            raise VPBenchError(
                f"{r.path}: protocol '{r.protocol}' version {r.doc['protocol']['version']}, but the protocol in use is version {want}; "
                "re-evaluate it, or point --protocols-dir at the specs it was made with"
            )
    first: dict[str, Result] = {}
    for r in results:
        seen = first.setdefault(r.protocol, r)
        version, seen_version = r.doc["protocol"]["version"], seen.doc["protocol"]["version"]
        if version != seen_version:
            raise VPBenchError(
                f"{r.path}: protocol '{r.protocol}' version {version}, but {seen.path} has version {seen_version}; "
                "results of different protocol versions are not comparable (keep one version under --results)"
            )
    return results
