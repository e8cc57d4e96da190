"""Readers of the raw dataset layouts: small pure functions over files.

Each returns a table with one row per listed video: ``action``, ``file``
(the path as the layout names it) and one ``split_<k>`` column per fold with
values ``train`` / ``test`` / ``unused``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

import pandas as pd

from ..core.errors import VPBenchError
from ..core.files import VIDEO_EXTENSIONS
from .labels.importers import normalize_key

SPLIT_VALUES = ("train", "val", "test", "unused")
_HMDB51_CODES = {"0": "unused", "1": "train", "2": "test"}
_HMDB51_SPLIT_FILE = re.compile(r"^(?P<action>.+)_test_split(?P<fold>\d+)\.txt$")


def video_key(path: str) -> str:
    """The identity of a video: its relative path with ``/`` separators and no video extension.

    Label files name videos with other extensions (the STPrivacy pickles say
    ``.mp4`` where HMDB51 ships ``.avi``), so keys never carry one.
    """
    return normalize_key(path)


def _read_lines(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise VPBenchError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    # splitlines() handles the CRLF of the UCF101 lists and the LF of HMDB51's.
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_hmdb51_splits(split_dir: str | os.PathLike) -> tuple[pd.DataFrame, list[str]]:
    """Read ``<action>_test_split<k>.txt`` files (lines ``name.avi 1``; 1 train, 2 test, 0 unused).

    Returns the table (``file`` = ``<action>/<name>``) and warnings (repeated
    identical lines). A line with an unknown code, a video listed twice with
    different codes, or a folder with no split file is an error.
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise VPBenchError(f"{split_dir}: split directory not found")
    files = sorted(p for p in split_dir.iterdir() if _HMDB51_SPLIT_FILE.match(p.name))
    if not files:
        raise VPBenchError(f"{split_dir}: no HMDB51 split files (<action>_test_split<k>.txt) found")
    codes: dict[tuple[str, str], dict[int, str]] = {}
    warnings: list[str] = []
    folds: set[int] = set()
    for path in files:
        m = _HMDB51_SPLIT_FILE.match(path.name)
        action, fold = m["action"], int(m["fold"])
        folds.add(fold)
        for lineno, line in enumerate(_read_lines(path), 1):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in _HMDB51_CODES:
                raise VPBenchError(f"{path}:{lineno}: expected '<name>.avi <0|1|2>', got '{line[:80]}'")
            key = (action, parts[0])
            value = _HMDB51_CODES[parts[1]]
            previous = codes.setdefault(key, {}).get(fold)
            if previous is not None:
                if previous != value:
                    raise VPBenchError(f"{path}:{lineno}: '{parts[0]}' is listed twice with different splits")
                warnings.append(f"{path.name}:{lineno}: duplicate line for '{parts[0]}' ignored")
            codes[key][fold] = value
    rows = []
    for (action, name), per_fold in sorted(codes.items()):
        row = {"action": action, "file": f"{action}/{name}"}
        for fold in sorted(folds):
            row[f"split_{fold}"] = per_fold.get(fold, "unused")
        rows.append(row)
    # Explicit columns: split files that list nothing still give a table the builder can read.
    return pd.DataFrame(rows, columns=["action", "file", *(f"split_{f}" for f in sorted(folds))]), warnings


def _number(text: str) -> int:
    """A class number from 1 (0 when ``text`` is not one): isdecimal, not isdigit, since int()
    refuses digits such as "²", and a bounded length, since int() refuses 4300-digit strings."""
    return int(text) if text.isdecimal() and len(text) <= 9 else 0


def read_ucf101_class_index(list_dir: str | os.PathLike) -> dict[str, int]:
    """``classInd.txt`` (``1 ApplyEyeMakeup``) as ``{class: 0-based index}``."""
    path = Path(list_dir) / "classInd.txt"
    classes: dict[str, int] = {}
    owner: dict[int, str] = {}
    for lineno, line in enumerate(_read_lines(path), 1):
        parts = line.split()
        if len(parts) != 2 or not _number(parts[0]):
            raise VPBenchError(f"{path}:{lineno}: expected '<index> <Class>' with an index from 1, got '{line[:80]}'")
        index, name = _number(parts[0]) - 1, parts[1]
        if name in classes:
            raise VPBenchError(f"{path}:{lineno}: class '{name[:80]}' is listed twice")
        if index in owner:
            raise VPBenchError(
                f"{path}:{lineno}: index {index + 1} is given to both '{owner[index][:80]}' and '{name[:80]}'"
            )
        classes[name], owner[index] = index, name
    return classes


def read_ucf101_splits(list_dir: str | os.PathLike) -> tuple[pd.DataFrame, list[str]]:
    """Read ``ucfTrainTestlist``: ``trainlist0k.txt`` (``Class/v_..avi <label>``), ``testlist0k.txt``.

    A video missing from both lists of a fold is ``unused`` in that fold.
    """
    list_dir = Path(list_dir)
    if not (list_dir / "classInd.txt").is_file():
        raise VPBenchError(f"{list_dir}: not a ucfTrainTestlist folder (classInd.txt missing)")
    classes = read_ucf101_class_index(list_dir)
    folds = sorted(int(m[1]) for p in list_dir.iterdir() if (m := re.match(r"^trainlist(\d+)\.txt$", p.name)))
    if not folds:
        raise VPBenchError(f"{list_dir}: no trainlist0k.txt files")
    assignment: dict[str, dict[int, str]] = {}
    warnings: list[str] = []
    for fold in folds:
        for kind in ("train", "test"):
            path = list_dir / f"{kind}list{fold:02d}.txt"
            if not path.is_file():
                raise VPBenchError(f"{path}: missing (every trainlist needs its testlist)")
            for lineno, line in enumerate(_read_lines(path), 1):
                parts = line.split()
                if len(parts) not in (1, 2) or "/" not in parts[0]:
                    raise VPBenchError(
                        f"{path}:{lineno}: expected 'Class/v_Class_gXX_cYY.avi [label]', got '{line[:80]}'"
                    )
                file = parts[0]
                action = file.split("/", 1)[0]
                if action not in classes:
                    raise VPBenchError(f"{path}:{lineno}: class '{action}' is not in classInd.txt")
                if len(parts) == 2 and _number(parts[1]) - 1 != classes[action]:
                    raise VPBenchError(
                        f"{path}:{lineno}: label {parts[1]} does not match class '{action}' in classInd.txt"
                    )
                previous = assignment.setdefault(file, {}).get(fold)
                if previous is not None:
                    if previous != kind:
                        raise VPBenchError(
                            f"{path}:{lineno}: '{file}' is in both the train and test list of fold {fold}"
                        )
                    warnings.append(f"{path.name}:{lineno}: duplicate line for '{file}' ignored")
                assignment[file][fold] = kind
    rows = []
    for file, per_fold in sorted(assignment.items()):
        row = {"action": file.split("/", 1)[0], "file": file}
        for fold in folds:
            row[f"split_{fold}"] = per_fold.get(fold, "unused")
        rows.append(row)
    return pd.DataFrame(rows, columns=["action", "file", *(f"split_{f}" for f in folds)]), warnings


def escapes_root(path: str) -> bool:
    """Whether a relative path from an input file would leave its root: absolute (POSIX or
    Windows form), or with a ``..`` component (either separator). Symlinks need the disk: see
    :func:`resolves_inside`."""
    return (
        PurePosixPath(path).is_absolute()
        or bool(PureWindowsPath(path).drive)
        or bool(PureWindowsPath(path).root)
        or ".." in re.split(r"[\\/]", path)
    )


def resolves_inside(root: Path, path: str) -> bool:
    """Whether ``root / path``, with every symlink followed, is still under ``root``."""
    base = root.resolve()
    try:
        return (root / path).resolve().is_relative_to(base)
    except (OSError, RuntimeError, ValueError):  # a symlink loop, an embedded NUL: not a usable path
        return False


def _one_line(text: str) -> str:
    """``text`` for a one-line message: control characters escaped."""
    return text if text.isprintable() else repr(text)[1:-1]


def read_manifest_table(path: str | os.PathLike) -> pd.DataFrame:
    """A generic manifest (CSV or parquet): ``path``, ``action``, ``split`` or ``split_<k>``,
    optionally one column per attribute. ``split`` is renamed ``split_1``."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".parquet":
            table = pd.read_parquet(path)
        elif path.suffix.lower() in (".csv", ".txt"):
            table = pd.read_csv(path, dtype={"path": str, "action": str})
        else:
            raise VPBenchError(f"{path}: manifest must be .csv or .parquet")
    except VPBenchError:
        raise
    except FileNotFoundError:
        raise VPBenchError(f"{path}: manifest not found") from None
    except Exception as exc:  # noqa: BLE001 - the CSV and parquet readers fail with many types
        lines = str(exc).strip().splitlines()
        raise VPBenchError(f"{path}: cannot read manifest ({lines[0] if lines else type(exc).__name__})") from None
    table.columns = [str(c) for c in table.columns]
    for column in ("path", "action"):
        if column not in table.columns:
            shown = ", ".join(_one_line(c) for c in table.columns) or "none"
            raise VPBenchError(f"{path}: manifest has no '{column}' column (columns: {shown})")
        # pandas keeps an empty cell as a missing value even in a str column.
        empty = [i for i, v in enumerate(table[column]) if pd.isna(v) or not str(v).strip()]
        if empty:
            raise VPBenchError(f"{path}: row {empty[0] + 1}: empty '{column}'")
    if table.empty:
        raise VPBenchError(f"{path}: the manifest lists no video (only a header)")
    if "split" in table.columns:
        if any(c.startswith("split_") for c in table.columns):
            raise VPBenchError(f"{path}: give either a 'split' column or 'split_<k>' columns, not both")
        table = table.rename(columns={"split": "split_1"})
    split_cols = [c for c in table.columns if c.startswith("split_")]
    if not split_cols:
        raise VPBenchError(f"{path}: manifest has no 'split' column")
    for c in split_cols:
        values = ["" if pd.isna(v) else str(v) for v in table[c]]
        bad = sorted(set(values) - set(SPLIT_VALUES))
        if bad:
            raise VPBenchError(f"{path}: column '{_one_line(c)}' has values {bad}; allowed: {', '.join(SPLIT_VALUES)}")
        table[c] = values
    table = table.copy()
    table["file"] = table["path"].astype(str)
    # Paths are relative to the dataset root and must stay there: a manifest is input, and
    # "../" or "/etc/..." would make the benchmark read (and hash, and list) files outside it.
    for i, file in enumerate(table["file"]):
        if not file.isprintable():
            raise VPBenchError(
                f"{path}: row {i + 1}: path '{_one_line(file)}' has control characters; it cannot name a video"
            )
        if escapes_root(file):
            raise VPBenchError(
                f"{path}: row {i + 1}: path '{_one_line(file)}' leaves the dataset root ('..' or an "
                f"absolute path); paths must be relative to it"
            )
    # Two rows for one video id (the same file, or a.avi beside a.mp4) would be two label sets for one video.
    first_row: dict[str, int] = {}
    for i, file in enumerate(table["file"]):
        key = video_key(file)
        if key in first_row:
            raise VPBenchError(
                f"{path}: row {i + 1}: path '{_one_line(file)}' is the video of row "
                f"{first_row[key] + 1} again (id '{_one_line(key)}'); list each video once"
            )
        first_row[key] = i
    return table


def list_videos(root: str | os.PathLike) -> list[str]:
    """Relative paths (``/``-separated, sorted) of every video file under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise VPBenchError(f"{root}: raw video folder not found")
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        for name in filenames:
            if name.lower().endswith(VIDEO_EXTENSIONS) and not name.startswith("."):
                found.append(os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/"))
    return sorted(found)
