"""Read privacy labels from their source formats into one *votes table*.

Every reader returns a :class:`pandas.DataFrame` with exactly the columns
``key`` (str), ``annotator`` (str), ``attribute`` (one of
:data:`vpbench.core.attributes.ATTRIBUTES`) and ``vote`` (int, 0/1), one row per
vote, sorted by (key, annotator, attribute). Aggregation into labels is
:mod:`vpbench.data.labels.votes`; keeping the raw votes lets the dataset record
vote counts, ties and annotator agreement whatever the source.

``key`` is the video as the source names it, normalised by :func:`normalize_key`
(so "brush_hair/x.mp4" and "./brush_hair/x.avi" both become "brush_hair/x");
matching keys to video files is the dataset builder's job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import pandas as pd

from ...core.attributes import ATTRIBUTES, STPRIVACY_PICKLE_ORDER, parse_attribute_order
from ...core.errors import VPBenchError, did_you_mean
from ...core.files import VIDEO_EXTENSIONS
from .safe_pickle import load_label_pickle

__all__ = [
    "VOTE_COLUMNS",
    "VotesResult",
    "PaHmdb51Labels",
    "normalize_key",
    "read_labelstudio_export",
    "read_vote_csv",
    "read_stprivacy_pickle",
    "read_pa_hmdb51",
    "parse_frame_ranges",
]

VOTE_COLUMNS: tuple[str, ...] = ("key", "annotator", "attribute", "vote")


STPRIVACY_ANNOTATOR = "stprivacy-release"
PA_HMDB51_ANNOTATOR = "pa-hmdb51"

_TRUE = frozenset({"1", "yes", "true"})
_FALSE = frozenset({"0", "no", "false"})


@dataclass
class VotesResult:
    """A votes table and the non-fatal problems met while reading it."""

    votes: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


@dataclass
class PaHmdb51Labels:
    """PA-HMDB51-format labels: video-level votes plus the per-frame labels.

    ``frame_labels`` has columns ``key``, ``frame`` and one int8 0/1 column
    per attribute, one row per frame ``0 .. num_frames[key] - 1``.
    """

    votes: pd.DataFrame
    frame_labels: pd.DataFrame
    num_frames: dict[str, int]
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def normalize_key(raw: str) -> str:
    """Normalise a video name: "/" separators, no leading "./", no video extension."""
    key = raw.strip().replace("\\", "/")
    while key.startswith("./"):
        key = key[2:]
    stem, dot, ext = key.rpartition(".")
    # Only video suffixes are stripped: video names in the wild contain dots
    # ("Dr._No_..."), and cutting at any dot would merge or mangle such keys.
    if dot and "/" not in ext and f".{ext}".lower() in VIDEO_EXTENSIONS:
        key = stem
    return key


def _video_key(raw: str, where: str) -> str:
    """normalize_key, refusing names that would garble a one-line message or a path."""
    key = normalize_key(raw)
    if not key or not raw.isprintable():
        raise VPBenchError(f"{where}: {_short(raw)} is not a usable video name")
    # A key names a video under the dataset root; one that could leave it is refused, not matched.
    parts = key.split("/")
    if key.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", key):
        raise VPBenchError(
            f"{where}: {_short(raw)} leaves the dataset root ('..' or an absolute path); name videos relative to it"
        )
    return key


def _votes_frame(rows: Iterable[tuple[str, str, str, int]]) -> pd.DataFrame:
    rows = list(rows)
    frame = pd.DataFrame(
        {
            "key": pd.Series([r[0] for r in rows], dtype=object).astype(str),
            "annotator": pd.Series([r[1] for r in rows], dtype=object).astype(str),
            "attribute": pd.Series([r[2] for r in rows], dtype=object).astype(str),
            "vote": np.asarray([r[3] for r in rows], dtype=np.int64),
        }
    )
    return _sort_votes(frame)


def _sort_votes(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["key", "annotator", "attribute"], kind="mergesort", ignore_index=True)


def _parse_vote(value: Any) -> int | None:
    """0/1 for a recognised answer, None for an unrecognised one."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return 1
        if text in _FALSE:
            return 0
    return None


def _read_text(path: Path, what: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VPBenchError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise VPBenchError(f"{path}: not a {what} (not UTF-8 text: {exc.reason} at byte {exc.start})") from None


def _load_json(path: Path, what: str) -> Any:
    text = _read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise VPBenchError(
            f"{path}: not a {what} (invalid JSON: {exc.msg}, line {exc.lineno} column {exc.colno})"
        ) from None
    except (RecursionError, ValueError) as exc:  # absurd nesting, huge numbers
        raise VPBenchError(f"{path}: not a {what} (invalid JSON: {type(exc).__name__})") from None


def _short(value: Any, limit: int = 60) -> str:
    # A numpy scalar (a cell of a pickle or a parquet table) shows as the number it holds, not np.int64(2).
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- Label Studio

_LS = "Label Studio JSON export"


def _ls_key(path: Path, task_ref: str, data: Any) -> str:
    if not isinstance(data, dict):
        raise VPBenchError(f"{path}: not a {_LS} (task {task_ref} has no 'data' object)")
    video_id = data.get("video_id")
    if video_id is not None:
        if not isinstance(video_id, str):
            raise VPBenchError(f"{path}: task {task_ref}: data.video_id must be a string, got {_short(video_id)}")
        return _video_key(video_id, f"{path}: task {task_ref}: data.video_id")
    video = data.get("video")
    if not isinstance(video, str) or not video.strip():
        raise VPBenchError(f"{path}: task {task_ref}: data has neither 'video_id' nor a 'video' path to name the video")
    try:
        parts = urlsplit(video.strip())
        # Label Studio serves local files as /data/local-files/?d=<path>.
        local = parse_qs(parts.query).get("d")
    except ValueError:
        parts, local = None, None
    name = local[0] if local else unquote(parts.path if parts is not None else video)
    base = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return _video_key(base, f"{path}: task {task_ref}: data.video {_short(video)}")


def _ls_annotator(path: Path, where: str, completed_by: Any) -> str:
    if isinstance(completed_by, dict):
        user_id = completed_by.get("id")
        if isinstance(user_id, int) and not isinstance(user_id, bool):
            return f"user{user_id}"
        email = completed_by.get("email")
        if isinstance(email, str) and email.strip() and email.strip().isprintable():
            return email.strip()
    elif isinstance(completed_by, int) and not isinstance(completed_by, bool):
        return f"user{completed_by}"
    elif isinstance(completed_by, str) and completed_by.strip() and completed_by.strip().isprintable():
        return completed_by.strip()
    raise VPBenchError(f"{path}: {where}: 'completed_by' does not name an annotator (got {_short(completed_by)})")


def _ls_time(path: Path, where: str, ann: dict, name: str) -> int | None:
    value = ann.get(name)
    if value is None:
        return None
    stamp = None
    if isinstance(value, str):
        try:
            stamp = pd.Timestamp(value)
        except Exception:  # noqa: BLE001 - pandas raises several types for bad dates
            stamp = None
        else:
            if pd.isna(stamp):
                return None
            # Exports mix "...Z" and naive times; naive ones are UTC in Label Studio.
            stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if stamp is None:
        raise VPBenchError(f"{path}: {where}: '{name}' is not an ISO date-time (got {_short(value)})")
    return int(stamp.value)


def _ls_annotation_votes(path: Path, where: str, results: Any) -> dict[str, int]:
    if not isinstance(results, list):
        raise VPBenchError(f"{path}: not a {_LS} ({where} has no 'result' list)")
    votes: dict[str, int] = {}
    for result in results:
        if not isinstance(result, dict):
            raise VPBenchError(f"{path}: not a {_LS} ({where} has a result that is not an object)")
        name = result.get("from_name")
        kind = result.get("type")
        if name not in ATTRIBUTES:
            if kind == "choices":
                shown = name if isinstance(name, str) and name.isprintable() else _short(name)
                raise VPBenchError(
                    f"{path}: {where}: unknown attribute '{shown}'"
                    f"{did_you_mean(shown, ATTRIBUTES)}; attributes are {', '.join(ATTRIBUTES)}"
                )
            continue  # comments, regions and other controls carry no vote
        if kind != "choices":
            raise VPBenchError(f"{path}: {where}: result for '{name}' has type {_short(kind)}, expected 'choices'")
        value = result.get("value")
        choices = value.get("choices") if isinstance(value, dict) else None
        if not isinstance(choices, list) or len(choices) != 1:
            raise VPBenchError(
                f"{path}: {where}: '{name}' must have exactly one choice (yes/no), got {_short(choices)}"
            )
        vote = _parse_vote(choices[0])
        if vote is None:
            raise VPBenchError(
                f"{path}: {where}: '{name}' choice {_short(choices[0])} is not yes/no, 1/0 or true/false"
            )
        if votes.get(name, vote) != vote:
            raise VPBenchError(f"{path}: {where}: gives two different answers for '{name}'")
        votes[name] = vote
    return votes


def read_labelstudio_export(path: str | Path) -> VotesResult:
    """Read a Label Studio JSON export (a list of tasks) into a votes table.

    The video key is ``data.video_id`` when present, otherwise the file name
    in ``data.video`` (for ``?d=`` local-file URLs, the ``d`` path) without
    directories or extension. Cancelled annotations are ignored; each
    annotator ("user<id>") contributes their latest annotation of a video (by
    ``updated_at``, then ``created_at``, then ``id``). An attribute an
    annotation leaves out is simply not voted on (with a warning).
    """
    path = Path(path)
    tasks = _load_json(path, _LS)
    if not isinstance(tasks, list):
        raise VPBenchError(
            f"{path}: not a {_LS} (top level is a JSON {type(tasks).__name__}, expected a list of tasks)"
        )

    warnings: list[str] = []
    unannotated: list[str] = []
    # (key, annotator) -> (order, task ref, annotation ref, votes)
    chosen: dict[tuple[str, str], tuple[tuple, str, str, dict[str, int]]] = {}
    repeats: dict[tuple[str, str], list[str]] = {}

    for index, task in enumerate(tasks):
        if not isinstance(task, dict):
            raise VPBenchError(
                f"{path}: not a {_LS} (item {index} is a JSON {type(task).__name__}, expected a task object)"
            )
        task_id = task.get("id")
        task_ref = str(task_id) if isinstance(task_id, int) and not isinstance(task_id, bool) else f"#{index}"
        key = _ls_key(path, task_ref, task.get("data"))
        annotations = task.get("annotations", [])
        if not isinstance(annotations, list):
            raise VPBenchError(f"{path}: not a {_LS} (task {task_ref}: 'annotations' is not a list)")
        counted = 0
        for a_index, ann in enumerate(annotations):
            if not isinstance(ann, dict):
                raise VPBenchError(f"{path}: not a {_LS} (task {task_ref}: annotation {a_index} is not an object)")
            if ann.get("was_cancelled"):
                continue
            ann_id = ann.get("id")
            if ann_id is None:
                ann_id = -1
            elif not isinstance(ann_id, int) or isinstance(ann_id, bool):
                raise VPBenchError(f"{path}: task {task_ref}: annotation id {_short(ann_id)} is not an integer")
            where = f"task {task_ref} annotation {ann_id if ann_id >= 0 else '#' + str(a_index)}"
            annotator = _ls_annotator(path, where, ann.get("completed_by"))
            updated = _ls_time(path, where, ann, "updated_at")
            created = _ls_time(path, where, ann, "created_at")
            votes = _ls_annotation_votes(path, where, ann.get("result"))
            counted += 1
            # Missing times sort first, so a dated annotation beats an undated one.
            order = (
                updated is not None,
                updated or 0,
                created is not None,
                created or 0,
                ann_id,
            )
            slot = (key, annotator)
            repeats.setdefault(slot, []).append(task_ref)
            previous = chosen.get(slot)
            # ">=": on a full tie the one listed later wins, like a re-export would.
            if previous is None or order >= previous[0]:
                chosen[slot] = (order, task_ref, where, votes)
        if counted == 0:
            unannotated.append(task_ref)

    if unannotated:
        shown = ", ".join(unannotated[:10]) + (f", ... ({len(unannotated)} in all)" if len(unannotated) > 10 else "")
        warnings.append(f"{path}: {len(unannotated)} task(s) have no completed annotation and give no votes: {shown}")
    for (key, annotator), tasks_seen in sorted(repeats.items()):
        if len(tasks_seen) > 1:
            where_tasks = ", ".join(dict.fromkeys(tasks_seen))
            warnings.append(
                f"{path}: {annotator} annotated video '{key}' {len(tasks_seen)} times (task {where_tasks}); "
                f"the latest ({chosen[(key, annotator)][2]}) is used"
            )

    rows: list[tuple[str, str, str, int]] = []
    for (key, annotator), (_, _, where, votes) in sorted(chosen.items()):
        missing = [a for a in ATTRIBUTES if a not in votes]
        if missing:
            warnings.append(f"{path}: {where} by {annotator} (video '{key}') has no vote for {', '.join(missing)}")
        rows.extend((key, annotator, a, v) for a, v in votes.items())
    return VotesResult(_votes_frame(rows), warnings)


# --------------------------------------------------------------------------- vote CSV

_CSV = "vote CSV"


def _csv_column(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def read_vote_csv(path: str | Path, order: str | Sequence[str] | None = None) -> VotesResult:
    """Read a CSV of per-annotator votes into a votes table.

    Columns: ``video`` (or ``video_id``), ``annotator`` and one column per
    attribute named after it (values 0/1, yes/no, true/false; an empty cell is
    no vote). A CSV whose attribute columns are unnamed (``a1`` .. ``a5``, or
    exactly five other columns) needs ``order`` to say which attribute each
    is. A repeated (video, annotator) row replaces the earlier one, with a
    warning.
    """
    path = Path(path)
    parsed_order = parse_attribute_order(order) if order is not None else None
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skipinitialspace=True)
    except OSError as exc:
        raise VPBenchError(f"{path}: cannot read {_CSV} ({exc.strerror or exc})") from None
    except pd.errors.EmptyDataError:
        raise VPBenchError(f"{path}: not a {_CSV} (the file is empty; expected a header row)") from None
    except Exception as exc:  # noqa: BLE001 - the CSV parser reports bad input with several types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VPBenchError(f"{path}: not a {_CSV} ({reason})") from None

    columns = [_csv_column(c) for c in table.columns]
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:
        raise VPBenchError(f"{path}: not a {_CSV} (repeated column {', '.join(dup)})")
    table.columns = columns

    id_columns = [c for c in ("video", "video_id") if c in columns]
    if len(id_columns) != 1:
        problem = "both 'video' and 'video_id'" if id_columns else "no 'video' (or 'video_id') column"
        raise VPBenchError(f"{path}: not a {_CSV} ({problem}; columns: {', '.join(columns)})")
    id_col = id_columns[0]
    if "annotator" not in columns:
        raise VPBenchError(
            f"{path}: not a {_CSV} (no 'annotator' column{did_you_mean('annotator', columns)}; columns: "
            f"{', '.join(columns)})"
        )
    others = [c for c in columns if c not in (id_col, "annotator")]

    named = [a for a in ATTRIBUTES if a in columns]
    if named:
        missing = [a for a in ATTRIBUTES if a not in columns]
        if missing:
            spare = [c for c in others if c not in ATTRIBUTES]
            detail = "; ".join(f"'{m}'{did_you_mean(m, spare)}" for m in missing)
            raise VPBenchError(f"{path}: not a {_CSV} (missing attribute column {detail})")
        mapping = {a: a for a in ATTRIBUTES}
    else:
        numbered = sorted((c for c in others if re.fullmatch(r"a\d+", c)), key=lambda c: int(c[1:]))
        if numbered == [f"a{i}" for i in range(1, 6)]:
            positional = numbered
        elif len(others) == 5:
            positional = others
        else:
            raise VPBenchError(
                f"{path}: not a {_CSV} (no attribute columns: name them {', '.join(ATTRIBUTES)}, "
                f"or give five columns a1..a5 and a label order)"
            )
        if parsed_order is None:
            raise VPBenchError(
                f"{path}: attribute columns {', '.join(positional)} are unnamed; "
                "give the label order to say which attribute each one is"
            )
        mapping = dict(zip(parsed_order, positional))

    warnings: list[str] = []
    latest: dict[tuple[str, str], tuple[int, dict[str, int]]] = {}
    lines_seen: dict[tuple[str, str], list[int]] = {}
    # Header is line 1, so data row i is line i + 2.
    for i, row in enumerate(table.itertuples(index=False, name=None)):
        record = dict(zip(columns, row))
        line = i + 2
        raw_key, annotator = str(record[id_col]).strip(), str(record["annotator"]).strip()
        if not raw_key:
            raise VPBenchError(f"{path}: line {line}: empty '{id_col}'")
        key = _video_key(raw_key, f"{path}: line {line}: '{id_col}'")
        if not annotator:
            raise VPBenchError(f"{path}: line {line}: empty 'annotator'")
        if not annotator.isprintable():
            raise VPBenchError(f"{path}: line {line}: annotator {_short(annotator)} is not a usable name")
        votes: dict[str, int] = {}
        blank = []
        for attribute, column in mapping.items():
            cell = str(record[column]).strip()
            if not cell:
                blank.append(attribute)
                continue
            vote = _parse_vote(cell)
            if vote is None:
                raise VPBenchError(
                    f"{path}: line {line}: '{column}' is {_short(cell)}, expected 0/1, yes/no or true/false"
                )
            votes[attribute] = vote
        if blank:
            warnings.append(f"{path}: line {line}: {annotator} has no vote for {', '.join(blank)} of video '{key}'")
        latest[(key, annotator)] = (line, votes)
        lines_seen.setdefault((key, annotator), []).append(line)

    for (key, annotator), lines in sorted(lines_seen.items()):
        if len(lines) > 1:
            warnings.append(
                f"{path}: {annotator} voted on video '{key}' on lines {', '.join(map(str, lines))}; the last one is "
                f"used"
            )
    rows = [
        (key, annotator, attribute, vote)
        for (key, annotator), (_, votes) in latest.items()
        for attribute, vote in votes.items()
    ]
    return VotesResult(_votes_frame(rows), warnings)


# --------------------------------------------------------------------------- STPrivacy pickle


def read_stprivacy_pickle(path: str | Path, order: str | Sequence[str] = STPRIVACY_PICKLE_ORDER) -> VotesResult:
    """Read an STPrivacy label pickle (``"<class>/<name>.mp4"`` -> binary (1, 5) array).

    The pickle is loaded with the restricted unpickler. ``order`` names the
    attribute of each column; the default is
    :data:`vpbench.core.attributes.STPRIVACY_PICKLE_ORDER` because the release does
    not document it. Every video gets one vote per attribute from the
    annotator "stprivacy-release".
    """
    path = Path(path)
    parsed_order = parse_attribute_order(order)
    labels = load_label_pickle(path)
    keys = sorted(labels)
    matrix = np.zeros((len(keys), len(ATTRIBUTES)), dtype=np.int64)
    seen: dict[str, str] = {}
    for row, raw in enumerate(keys):
        key = _video_key(raw, f"{path}: label key")
        value = labels[raw]
        if value.shape not in ((1, 5), (5,)):
            raise VPBenchError(f"{path}: label of '{raw}' has shape {value.shape}, expected (1, 5) or (5,)")
        flat = value.reshape(5)
        if not np.isin(flat, (0, 1)).all():
            raise VPBenchError(f"{path}: label of '{raw}' is {flat.tolist()}, expected five 0/1 values")
        if key in seen:
            raise VPBenchError(f"{path}: keys '{seen[key]}' and '{raw}' both name video '{key}'")
        seen[key] = raw
        matrix[row] = flat.astype(np.int64)

    norm_keys = [normalize_key(k) for k in keys]
    frame = pd.DataFrame(
        {
            "key": pd.Series(np.repeat(np.asarray(norm_keys, dtype=object), 5), dtype=object).astype(str),
            "annotator": pd.Series([STPRIVACY_ANNOTATOR] * (5 * len(keys)), dtype=object).astype(str),
            "attribute": pd.Series(list(parsed_order) * len(keys), dtype=object).astype(str),
            "vote": matrix.reshape(-1),
        }
    )
    return VotesResult(_sort_votes(frame), [])


# --------------------------------------------------------------------------- PA-HMDB51 frame ranges

_PA = "PA-HMDB51 label file"


def _range_item(item: Any, index: int, where: str) -> tuple[int, int, bool]:
    if not isinstance(item, (list, tuple)) or len(item) != 3:
        raise VPBenchError(f"{where}range {index} is {_short(item)}, expected [start, end, value]")
    start, end, value = item
    for name, bound in (("start", start), ("end", end)):
        if not isinstance(bound, (int, np.integer)) or isinstance(bound, bool):
            raise VPBenchError(f"{where}range {index}: {name} {_short(bound)} is not a frame number")
    if not 0 <= start <= end:
        raise VPBenchError(f"{where}range {index}: frames {start}..{end} are not 0 <= start <= end")
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if not isinstance(v, (int, np.integer)):
            raise VPBenchError(f"{where}range {index}: value {_short(value)} is not an integer or a list of integers")
    # A list lists every category seen (e.g. gender [1, 2]: both present), so
    # any non-zero member makes the attribute visible.
    return int(start), int(end), any(v != 0 for v in values)


def parse_frame_ranges(ranges: Any, num_frames: int, *, source: str | None = None) -> np.ndarray:
    """Turn ``[[start, end, value], ...]`` into a per-frame int8 0/1 array.

    Ranges are 0-based with ``end`` inclusive. A frame is 1 iff some range
    covering it has a non-zero value (a list value counts if any member is
    non-zero); frames no range covers are 0. A range past ``num_frames - 1``
    is an error. ``source`` prefixes error messages (e.g. "file.json: x.avi
    face").
    """
    where = f"{source}: " if source else ""
    if not isinstance(ranges, (list, tuple)):
        raise VPBenchError(f"{where}frame ranges must be a list of [start, end, value], got {_short(ranges)}")
    frames = np.zeros(int(num_frames), dtype=np.int8)
    for index, item in enumerate(ranges):
        start, end, positive = _range_item(item, index, where)
        if end >= num_frames:
            raise VPBenchError(f"{where}range {index} ends at frame {end}, but the video has {num_frames} frames")
        if positive:
            frames[start : end + 1] = 1
    return frames


def _pa_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".json" and p.is_file())
        if not files:
            raise VPBenchError(f"{path}: no .json label files in this folder")
        return files
    if path.is_file():
        return [path]
    raise VPBenchError(f"{path}: no such file or folder")


def read_pa_hmdb51(path: str | Path, *, annotator: str = PA_HMDB51_ANNOTATOR) -> PaHmdb51Labels:
    """Read PA-HMDB51-format frame-range labels (a folder of per-action JSON files, or one file).

    Each file ``<action>.json`` maps ``"<name>.avi"`` to per-attribute frame
    ranges; the key is ``"<action>/<name>"``. The video's frame count is the
    largest range end + 1; its vote for an attribute is 1 iff any frame is
    positive (from ``annotator``, "pa-hmdb51" by default). VP-Synth writes its
    per-frame visibility in this same format.
    """
    root = Path(path)
    warnings: list[str] = []
    num_frames: dict[str, int] = {}
    vote_rows: list[tuple[str, str, str, int]] = []
    frame_parts: dict[str, np.ndarray] = {}

    for file in _pa_files(root):
        action = file.stem
        entries = _load_json(file, _PA)
        if not isinstance(entries, dict):
            raise VPBenchError(
                f"{file}: not a {_PA} (top level is a JSON {type(entries).__name__}, expected an object of videos)"
            )
        for name, entry in entries.items():
            stem = _video_key(name, f"{file}: video name")
            key = f"{action}/{stem}"
            if not isinstance(entry, dict):
                raise VPBenchError(
                    f"{file}: '{name}' is a JSON {type(entry).__name__}, expected an object of attributes"
                )
            spare = [k for k in entry if k not in ATTRIBUTES]
            missing = [a for a in ATTRIBUTES if a not in entry]
            if missing:
                detail = "; ".join(f"'{m}'{did_you_mean(m, spare)}" for m in missing)
                raise VPBenchError(f"{file}: '{name}' has no frame ranges for {detail}")
            if key in num_frames:
                raise VPBenchError(f"{file}: video '{key}' is listed twice")
            ends = []
            for attribute in ATTRIBUTES:
                ranges = entry[attribute]
                where = f"{file}: '{name}' {attribute}: "
                if not isinstance(ranges, list):
                    raise VPBenchError(
                        f"{where}frame ranges must be a list of [start, end, value], got {_short(ranges)}"
                    )
                ends.extend(_range_item(item, i, where)[1] for i, item in enumerate(ranges))
            if not ends:
                warnings.append(f"{file}: '{name}' has no frame ranges for any attribute; skipped")
                continue
            count = max(ends) + 1
            num_frames[key] = count
            per_frame = np.stack(
                [parse_frame_ranges(entry[a], count, source=f"{file}: '{name}' {a}") for a in ATTRIBUTES], axis=1
            )
            frame_parts[key] = per_frame
            vote_rows.extend((key, annotator, a, int(per_frame[:, j].any())) for j, a in enumerate(ATTRIBUTES))

    keys = sorted(frame_parts)
    if keys:
        stacked = np.concatenate([frame_parts[k] for k in keys], axis=0)
        lengths = [num_frames[k] for k in keys]
        key_col = np.repeat(np.asarray(keys, dtype=object), lengths)
        frame_col = np.concatenate([np.arange(n, dtype=np.int64) for n in lengths])
    else:
        stacked = np.zeros((0, len(ATTRIBUTES)), dtype=np.int8)
        key_col = np.asarray([], dtype=object)
        frame_col = np.asarray([], dtype=np.int64)
    frame_labels = pd.DataFrame({"key": pd.Series(key_col, dtype=object).astype(str), "frame": frame_col})
    for j, attribute in enumerate(ATTRIBUTES):
        frame_labels[attribute] = stacked[:, j].astype(np.int8)
    return PaHmdb51Labels(
        votes=_votes_frame(vote_rows),
        frame_labels=frame_labels,
        num_frames={k: num_frames[k] for k in keys},
        warnings=warnings,
    )
