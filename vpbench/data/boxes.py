"""Person boxes CSVs: the checks shared by `vpbench anonymize --boxes` and `vpbench build --boxes`.

A box that cannot act is an error naming its line in the file, never skipped: a privacy method
given such a box leaves the person in the clear while its output looks anonymized. Coordinates
are pixels of the source video, ``x1``/``y1`` exclusive. The rules:

- every cell of a needed column is a finite number (text or an empty cell is an error), and
  ``frame`` and ``person`` are whole numbers;
- the frame index is one of the video's frames;
- ``x0 < x1`` and ``y0 < y1``;
- at least one pixel of the box lies inside the frame. A box partly outside is cut to the frame:
  detectors report boxes past the border for people at the edge, and what is inside still acts;
- fractional coordinates are widened to whole pixels (``x0``/``y0`` down, ``x1``/``y1`` up), so
  the region never shrinks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import VPBenchError

COORDS = ("x0", "y0", "x1", "y1")
WHOLE = ("frame", "person")  # columns that hold whole numbers


def read_boxes_csv(path: str | os.PathLike, columns: Sequence[str], text: Sequence[str] = ()) -> pd.DataFrame:
    """The rows of a boxes CSV with ``columns`` parsed as numbers (``text`` ones kept as strings),
    plus ``line``: the row's 1-based line number in the file (the header is line 1)."""
    path = Path(path)
    if path.is_dir():
        raise VPBenchError(f"{path}: is a folder, not a boxes CSV")
    try:
        # Everything as text, blank lines kept: a cell is judged as written, and row k stays on line k + 2.
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except FileNotFoundError:
        raise VPBenchError(f"{path}: boxes CSV not found") from None
    except Exception as exc:
        # pandas names the line of a malformed row ("Expected 5 fields in line 3, saw 6"): keep its first line.
        reason = (str(exc).strip().splitlines() or [""])[0][:160] or type(exc).__name__
        raise VPBenchError(f"{path}: cannot read boxes CSV ({reason})") from None
    table = table.fillna("")  # a row with too few fields: its missing cells are empty cells
    missing = [c for c in [*text, *columns] if c not in table.columns]
    if missing:
        raise VPBenchError(f"{path}: boxes CSV lacks columns {', '.join(missing)}")
    table = table.assign(line=np.arange(len(table)) + 2)
    blank = (table.drop(columns="line") == "").all(axis=1)
    table = table[~blank]
    out = table[[*text, "line"]].copy()
    for col in columns:
        out[col] = _numbers(path, table, col)
    return out.reset_index(drop=True)


def _numbers(path: Path, table: pd.DataFrame, col: str) -> pd.Series:
    cells = table[col].str.strip()
    values = pd.to_numeric(cells, errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=float))
    if bad.any():
        k = int(np.argmax(bad))
        cell = cells.iloc[k]
        what = "empty" if cell == "" else f"{cell!r}, not a number"
        raise VPBenchError(f"{path} line {table['line'].iloc[k]}: {col} is {what}")
    if col in WHOLE:
        frac = values.to_numpy(dtype=float) % 1 != 0
        if frac.any():
            k = int(np.argmax(frac))
            raise VPBenchError(f"{path} line {table['line'].iloc[k]}: {col} is {cells.iloc[k]}, not a whole number")
        return values.astype(np.int64)
    return values.astype(np.float64)


def check_boxes(
    table: pd.DataFrame, path: str | os.PathLike, num_frames, width, height, video: pd.Series | None = None
) -> pd.DataFrame:
    """Apply the rules to parsed rows; returns them with whole-pixel coordinates cut to the frame.

    ``num_frames``, ``width``, ``height``: one value for every row (one video), or one per row.
    ``video``: the rows' video ids, named in messages when the file holds several videos.
    """
    if table.empty:
        return table.assign(**{c: table[c].astype(np.int64) for c in COORDS})
    n = np.broadcast_to(np.asarray(num_frames, dtype=np.int64), len(table))
    w = np.broadcast_to(np.asarray(width, dtype=np.int64), len(table))
    h = np.broadcast_to(np.asarray(height, dtype=np.int64), len(table))
    f = table["frame"].to_numpy()
    x0, y0, x1, y1 = (table[c].to_numpy(dtype=float) for c in COORDS)
    of = (lambda k: f" of '{video.iloc[k]}'") if video is not None else (lambda k: "")
    rules = [  # (rows breaking the rule, its message for row k), in the order a row is judged
        ((f < 0) | (f >= n), lambda k: f"box for frame {f[k]}{of(k)}, which has {n[k]} frames"),
        (x0 >= x1, lambda k: f"box x0={_num(x0[k])} >= x1={_num(x1[k])}"),
        (y0 >= y1, lambda k: f"box y0={_num(y0[k])} >= y1={_num(y1[k])}"),
        (
            (x1 <= 0) | (y1 <= 0) | (x0 >= w) | (y0 >= h),
            lambda k: (
                f"box x0={_num(x0[k])} y0={_num(y0[k])} x1={_num(x1[k])} y1={_num(y1[k])} has no pixel inside "
                f"the {w[k]}x{h[k]} frame{of(k)}"
            ),
        ),
    ]
    broken = np.logical_or.reduce([bad for bad, _ in rules])
    if broken.any():
        k = int(np.argmax(broken))  # the first broken row of the file, by whichever rule it breaks first
        message = next(msg for bad, msg in rules if bad[k])
        raise VPBenchError(f"{path} line {table['line'].iloc[k]}: {message(k)}")
    return table.assign(
        x0=np.maximum(np.floor(x0), 0).astype(np.int64),
        y0=np.maximum(np.floor(y0), 0).astype(np.int64),
        x1=np.minimum(np.ceil(x1), w).astype(np.int64),
        y1=np.minimum(np.ceil(y1), h).astype(np.int64),
    )


def _num(v: float) -> str:
    """A coordinate as the user wrote it: 80, not 80.0."""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def boxes_by_frame(boxes: pd.DataFrame) -> dict[int, np.ndarray]:
    """Checked boxes grouped once by frame (``k x 4`` arrays x0, y0, x1, y1), so that rasterizing a
    window of frames costs its own boxes, not the whole file's."""
    return {int(t): g[list(COORDS)].to_numpy(np.int64) for t, g in boxes.groupby("frame", sort=False)}


def rasterize(by_frame: dict[int, np.ndarray], frames: Sequence[int], size: tuple[int, int]) -> np.ndarray:
    """The boxes of ``frames`` (from :func:`boxes_by_frame`) as boolean masks ``t x H x W``."""
    masks = np.zeros((len(frames), *size), dtype=bool)
    for k, t in enumerate(frames):
        for x0, y0, x1, y1 in by_frame.get(int(t), ()):
            masks[k, y0:y1, x0:x1] = True
    return masks
