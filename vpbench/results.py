"""Result files: where they live, their schema, and loading them validated.

`vpbench evaluate` writes one JSON per evaluation at
``<results>/<protocol>/<dataset>/<method>/<run>.json``. The document has one
type, :class:`EvaluationResult`: the writer builds it, :meth:`EvaluationResult.from_dict`
is the one place a document is validated, and everything that reads results
(the leaderboard, scripts, the tests' factory) goes through it or through
:func:`load_results`, so a malformed or incomparable file is refused in one
place, with its path named. This module imports no torch: rebuilding a
leaderboard needs only the JSON.
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from .core.errors import VPBenchError

RESULT_SCHEMA_VERSION = 1

# The three headline scores; each is {value, ci_low, ci_high} (top-1 and F1 fractions, cMAP percent).
SCORES = ("action_top1", "privacy_f1", "privacy_cmap")
# Scores results carry since issue 23 (older files lack them; where present they are checked as the headline
# ones): the same three from recognizers trained on raw videos and frozen (vpbench.evaluation.frozen), and the
# transformed test videos' PSNR (dB) and SSIM against raw, each with the ``noise`` floor it is read against.
FROZEN_SCORES = ("action_top1_frozen", "privacy_f1_frozen", "privacy_cmap_frozen")
FIDELITY_SCORES = ("fidelity_psnr", "fidelity_ssim")

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

# Keys older files may lack (they load with the field's default); where present and not null they must
# have this type. `protocol.suite` decides whether the leaderboard shows the paper's numbers.
_OPTIONAL: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("protocol.suite", str),
    ("randomness", dict),
    ("hardware", dict),
    ("per_action", dict),
    ("excluded_attributes", list),
    ("counts", dict),
    ("versions", dict),
    ("git", str),
    ("wall_time_s", dict),
    ("date", str),
)

PREVIEW_SUFFIX = ".preview.png"
CURVES_SUFFIX = ".curves.png"  # training curves `vpbench evaluate` draws beside a result (and .curves.csv)


def preview_path(result_path: str | os.PathLike) -> Path:
    """Where `vpbench evaluate` puts the raw/transformed frame strip of a result: ``<run>.preview.png``."""
    path = Path(result_path)
    return path.with_name(path.stem + PREVIEW_SUFFIX)


_ABSENT = object()


def _lookup(doc: dict, dotted: str, default=_ABSENT):
    node = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is not _ABSENT:
                return default
            raise KeyError(dotted)
        node = node[part]
    return node


def _check_document(doc, path) -> None:
    """Raise a one-line error naming ``path`` and the key unless ``doc`` is a result of the current schema."""
    if not isinstance(doc, dict):
        raise VPBenchError(f"{path}: not a result file (expected a JSON object)")
    if "schema_version" in doc and doc["schema_version"] != RESULT_SCHEMA_VERSION:
        raise VPBenchError(
            f"{path}: result schema version {doc['schema_version']!r}, this vpbench reads version "
            f"{RESULT_SCHEMA_VERSION}"
        )
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
    for key, kind in _OPTIONAL:
        value = _lookup(doc, key, None)
        if value is not None and not isinstance(value, kind):
            raise VPBenchError(f"{path}: '{key}' has the wrong type ({type(value).__name__})")
    for name in FROZEN_SCORES + FIDELITY_SCORES:
        if name not in doc["scores"]:
            continue
        for k in ("value", "ci_low", "ci_high") + (("noise",) if name in FIDELITY_SCORES else ()):
            value = _lookup(doc, f"scores.{name}.{k}", None)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise VPBenchError(f"{path}: 'scores.{name}.{k}' is not a finite number ({value!r})")
    for name in SCORES + tuple(n for n in FROZEN_SCORES + FIDELITY_SCORES if n in doc["scores"]):
        s = doc["scores"][name]
        if not s["ci_low"] <= s["value"] <= s["ci_high"]:
            raise VPBenchError(
                f"{path}: 'scores.{name}' value {s['value']} lies outside its interval [{s['ci_low']}, {s['ci_high']}]"
            )


class Score(NamedTuple):
    """One headline score as the result stores it (top-1 and F1 fractions, cMAP percent)."""

    value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True, kw_only=True)
class EvaluationResult:
    """One evaluation's result: the document `vpbench evaluate` writes, typed, one field per top-level key.

    Reading: ``EvaluationResult.from_dict(doc, path)`` validates (the only validation path; a bad
    document is a one-line :class:`VPBenchError` naming ``path`` and the key) and
    :func:`load_result_file` / :func:`load_results` return these objects, with ``path`` (and
    ``relpath``, relative to the results folder) set. Writing: build the object and write its
    ``to_dict()``; in ``vpbench/evaluate.py`` ``_evaluate_job`` that replaces the ``document = {...}``
    literal with::

        document = EvaluationResult(
            protocol={"name": ..., "version": ..., "suite": request.suite, "fold": fold},
            method={...}, dataset={...}, run=request.run_id(), seed=request.seed,
            randomness=_randomness(...), hardware=distributed.describe(), profile=request.profile,
            **result,  # scores, per_attribute, per_action, excluded_attributes, bootstrap, counts
            config={...}, versions=_versions(), git=_git_hash(), wall_time_s=timer.phases, date=...,
        ).to_dict()

    (``schema_version`` defaults to :data:`RESULT_SCHEMA_VERSION`; a new top-level key is a new field
    here, not an ``extra`` entry). ``from_dict(d).to_dict() == d`` for every document the writer makes.
    The constructor does not validate: a run that trained for hours still writes its file, and the
    reader names what is wrong with it. Nested blocks stay JSON dicts (``protocol``, ``method``, ...);
    the properties below read the keys the leaderboard needs.
    """

    schema_version: int = RESULT_SCHEMA_VERSION
    protocol: dict[str, Any]  # name, version, suite ("synth" | "real"), fold
    method: dict[str, Any]  # name, version, origin, learned, options, trained_on, checkpoint; settings (a fit)
    dataset: dict[str, Any]  # name, method_trained_on, content_sha256 (frame protocol: action_trained_on)
    run: str
    seed: int
    randomness: dict[str, Any] | None = None  # every seed the run drew from (absent in old files)
    hardware: dict[str, Any] | None = None  # device, device_name, requested_device, precision, world_size
    profile: str
    scores: dict[str, dict[str, Any]]  # SCORES -> {value, ci_low, ci_high, higher_is_better}
    per_attribute: dict[str, Any]
    per_action: dict[str, Any] | None = None
    excluded_attributes: list = field(default_factory=list)
    bootstrap: dict[str, Any]  # samples, level, unit
    counts: dict[str, Any] | None = None
    # The raw-trained recognizers behind the *_frozen scores: target -> {weights, from_cache} (absent in old files)
    frozen: dict[str, Any] | None = None
    config: dict[str, Any]  # protocol, profile, whole_frame, job
    versions: dict[str, Any] | None = None
    git: str | None = None
    wall_time_s: dict[str, Any] | None = None  # phase -> seconds, and "total"
    date: str | None = None
    # Top-level keys this vpbench does not know (kept so a round trip loses nothing).
    extra: dict[str, Any] = field(default_factory=dict)
    # Where the document was read from; not part of it (to_dict leaves them out, == ignores them).
    path: Path | None = field(default=None, compare=False, repr=False)
    relpath: str | None = field(default=None, compare=False, repr=False)  # '/'-separated, under the results folder

    def __post_init__(self):
        clash = sorted(set(self.extra) & set(_DOCUMENT_KEYS))
        if clash:
            raise ValueError(f"extra keys {clash} are fields of EvaluationResult; pass them as fields")

    # ---- the document ----

    @classmethod
    def from_dict(cls, doc, path: str | os.PathLike | None = None, *, relpath: str | None = None) -> EvaluationResult:
        """The result in ``doc`` (parsed JSON), validated; errors name ``path``."""
        _check_document(doc, "<result>" if path is None else path)
        doc = copy.deepcopy(doc)
        known = {k: doc.pop(k) for k in _DOCUMENT_KEYS if k in doc}
        return cls(**known, extra=doc, path=None if path is None else Path(path), relpath=relpath)

    def to_dict(self) -> dict:
        """The JSON document (a deep copy), keys in the order `vpbench evaluate` writes them."""
        doc = {k: getattr(self, k) for k in _DOCUMENT_KEYS}
        doc.update(self.extra)
        return copy.deepcopy(doc)

    # ---- what the leaderboard reads ----

    @property
    def protocol_name(self) -> str:
        return self.protocol["name"]

    @property
    def protocol_version(self) -> int | str:
        return self.protocol["version"]

    @property
    def suite(self) -> str | None:
        """``"synth"`` or ``"real"``; None in files that predate it."""
        return self.protocol.get("suite")

    @property
    def dataset_name(self) -> str:
        return self.dataset["name"]

    @property
    def holdout(self) -> str:
        """The split scored: ``"test"`` (files before the val split too) or ``"val"`` (`evaluate --holdout val`)."""
        return str(self.dataset.get("holdout", "test"))

    def optional_score(self, name: str) -> Score | None:
        """A score older files may lack (FROZEN_SCORES, FIDELITY_SCORES): None where absent."""
        return self.score(name) if name in self.scores else None

    @property
    def method_name(self) -> str:
        return self.method["name"]

    @property
    def method_version(self) -> int | str:
        return self.method["version"]

    @property
    def options(self) -> dict:
        return self.method["options"]

    @property
    def deploy_options(self) -> tuple[str, ...]:
        """Options the method changes at deployment without retraining (runs differing only in them form a sweep)."""
        return tuple(self.method.get("deploy_options") or ())

    @property
    def whole_frame(self) -> bool:
        return bool(self.config.get("whole_frame"))

    @property
    def bootstrap_level(self) -> float:
        return float(self.bootstrap["level"])

    def score(self, name: str) -> Score:
        s = self.scores[name]
        return Score(float(s["value"]), float(s["ci_low"]), float(s["ci_high"]))

    @property
    def action_top1(self) -> Score:
        return self.score("action_top1")

    @property
    def privacy_f1(self) -> Score:
        return self.score("privacy_f1")

    @property
    def privacy_cmap(self) -> Score:
        return self.score("privacy_cmap")

    @property
    def curves(self) -> Path | None:
        """The ``<run>.curves.png`` (training curves) beside the file it was read from, if there is one."""
        if self.path is None:
            return None
        path = self.path.with_name(self.path.stem + CURVES_SUFFIX)
        return path if path.is_file() else None

    @property
    def preview(self) -> Path | None:
        """The ``<run>.preview.png`` beside the file it was read from, if there is one."""
        if self.path is None:
            return None
        path = preview_path(self.path)
        return path if path.is_file() else None


_DOCUMENT_KEYS: tuple[str, ...] = tuple(
    f.name for f in fields(EvaluationResult) if f.name not in ("extra", "path", "relpath")
)

Result = EvaluationResult  # the name before issue 21


def validate_result(doc, path: str | os.PathLike) -> dict:
    """Return ``doc`` if it is a result of the current schema; else raise a one-line error naming ``path`` and the key.

    The same check as :meth:`EvaluationResult.from_dict`, for callers that keep the dict."""
    EvaluationResult.from_dict(doc, path)
    return doc


def load_result_file(path: str | os.PathLike, relpath: str | None = None) -> EvaluationResult:
    """One result file, parsed and validated."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise VPBenchError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None
    except json.JSONDecodeError as exc:
        raise VPBenchError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return EvaluationResult.from_dict(doc, path, relpath=relpath)


def find_result_files(root: str | os.PathLike) -> list[Path]:
    """Every ``<protocol>/<dataset>/<method>/<run>.json`` under ``root``, sorted (hidden temp files skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise VPBenchError(f"{root}: results folder not found")
    return sorted(p for p in root.glob("*/*/*/*.json") if p.is_file() and not p.name.startswith("."))


# The parts of a result's path and the keys of the document that must name the same thing.
_LOCATION = (("protocol", "protocol.name"), ("dataset", "dataset.name"), ("method", "method.name"), ("run", "run"))


def check_result_location(result: EvaluationResult) -> None:
    """Refuse a result whose document disagrees with its place ``<protocol>/<dataset>/<method>/<run>.json``.

    The leaderboard groups and names rows by the document while previews and links follow the path:
    a result copied or renamed into another method's folder would give two rows of one method and
    overwrite one's preview with the other's. Needs ``result.relpath`` (as :func:`load_results` sets it)."""
    *folders, name = result.relpath.split("/")
    where = dict(zip(("protocol", "dataset", "method"), folders))
    where["run"] = name[: -len(".json")] if name.endswith(".json") else name
    said = {
        "protocol": result.protocol_name,
        "dataset": result.dataset_name,
        "method": result.method_name,
        "run": result.run,
    }
    wrong = [(part, key) for part, key in _LOCATION if said[part] != where.get(part)]
    if wrong:
        detail = "; ".join(
            f"{key} is '{said[part]}' but its {part} {'file name' if part == 'run' else 'folder'} is "
            f"'{where.get(part)}'"
            for part, key in wrong
        )
        expected = f"{said['protocol']}/{said['dataset']}/{said['method']}/{said['run']}.json"
        raise VPBenchError(
            f"{result.path}: {detail}; a result lives at <protocol>/<dataset>/<method>/<run>.json, here {expected}"
        )


def load_results(
    root: str | os.PathLike, current_versions: dict[str, int | str] | None = None
) -> list[EvaluationResult]:
    """All results under ``root``, validated; refuses an empty folder and mixed versions of one protocol.

    ``current_versions`` (protocol name -> version, from the protocol specs in use): a result of a
    known protocol at any other version is refused too, even when all results agree with each other."""
    root = Path(root)
    files = find_result_files(root)
    if not files:
        raise VPBenchError(
            f"{root}: no result files (expected <protocol>/<dataset>/<method>/<run>.json, as `vpbench evaluate --out` "
            f"writes)"
        )
    results = [load_result_file(p, p.relative_to(root).as_posix()) for p in files]
    for r in results:
        check_result_location(r)
    for r in results:
        want = (current_versions or {}).get(r.protocol_name)
        if want is not None and r.protocol_version != want:
            raise VPBenchError(
                f"{r.path}: protocol '{r.protocol_name}' version {r.protocol_version}, but the protocol in use is "
                f"version {want}; "
                "re-evaluate it, or point --protocols-dir at the specs it was made with"
            )
    first: dict[str, EvaluationResult] = {}
    for r in results:
        seen = first.setdefault(r.protocol_name, r)
        if r.protocol_version != seen.protocol_version:
            raise VPBenchError(
                f"{r.path}: protocol '{r.protocol_name}' version {r.protocol_version}, but {seen.path} has version "
                f"{seen.protocol_version}; "
                "results of different protocol versions are not comparable (keep one version under --results)"
            )
    return results
