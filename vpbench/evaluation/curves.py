"""Training curves of one evaluation: every stage of the method's fit and every recognizer, per epoch or chunk.

Written beside the result while the run goes: ``<run>.curves.csv`` (long format: phase, step, metric, value),
``<run>.curves.png`` (one panel per phase) and, with ``--tensorboard DIR``, TensorBoard events under
``DIR/<protocol>/<dataset>/<method>/<run>/``. A diverging adversarial game shows in the curves while it
runs, not only in the final score.

A learned method's curves come from its fit log (the dict a method keeps in ``log``; see :func:`log_rows`),
reported after every checkpointed unit through :data:`vpbench.methods.base.fit_observer`.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from ..core import distributed
from ..core.atomic import atomic_write_bytes, atomic_write_text, check_output_dir
from ..core.errors import VPBenchError
from ..results import CURVES_SUFFIX

CURVES_CSV_SUFFIX = ".curves.csv"
CURVES_PNG_SUFFIX = CURVES_SUFFIX
_SKIP = frozenset({"epoch", "step", "steps", "seconds", "unit", "chunk"})  # fields of a log row that are not curves


def curves_paths(result_path: str | os.PathLike) -> tuple[Path, Path]:
    path = Path(result_path)
    return path.with_name(path.stem + CURVES_CSV_SUFFIX), path.with_name(path.stem + CURVES_PNG_SUFFIX)


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(float(value)) else None


def log_rows(log: dict) -> list[tuple[str, int, str, float]]:
    """A fit log as curve rows ``(phase, step, metric, value)``.

    The logs methods keep are dicts of lists: a list of numbers is one curve (``fit/<key>``, steps 1, 2, ...);
    a list of dicts is one phase with a curve per numeric field, its step the row's ``epoch`` or ``step`` (else
    its position). Anything else (settings, provenance) is not a curve."""
    rows = []
    for key, entries in log.items():
        if not isinstance(entries, list):
            continue
        for i, entry in enumerate(entries, 1):
            if isinstance(entry, dict):
                step = entry.get("epoch", entry.get("step", i))
                step = int(step) if _number(step) is not None else i
                for field, value in entry.items():
                    v = _number(value)
                    if field not in _SKIP and v is not None:
                        rows.append((f"fit/{key}", step, str(field), v))
            elif _number(entry) is not None:
                rows.append((f"fit/{key}", i, str(key), _number(entry)))
    return rows


def check_tensorboard(directory: str | os.PathLike | None) -> None:
    """Before any training: the folder can be written and the ``tensorboard`` package is there."""
    if directory is None:
        return
    check_output_dir(directory, "--tensorboard folder")
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise VPBenchError("--tensorboard needs the tensorboard package: pip install 'vpbench[tensorboard]'") from None


class Curves:
    """The curves of one run, rewritten (atomically, by rank 0) each time a phase reports."""

    def __init__(
        self, result_path: Path, tensorboard_dir: str | os.PathLike | None = None, run_dir: str = "", resume=False
    ) -> None:
        self.csv_path, self.png_path = curves_paths(result_path)
        self.rows: dict[tuple[str, str, int], float] = {}
        if resume and self.csv_path.is_file():  # the epochs trained before the run was stopped
            with self.csv_path.open(newline="") as f:
                for row in csv.DictReader(f):
                    self.rows[(row["phase"], row["metric"], int(row["step"]))] = float(row["value"])
        self._writer = None
        if tensorboard_dir is not None and distributed.is_main():
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(Path(tensorboard_dir) / run_dir))
        self._sent: set[tuple[str, str, int]] = set()

    def fit_log(self, log: dict) -> None:
        """The method's fit log as it stands (called after every unit of its fit)."""
        self._add(log_rows(log))

    def epoch(self, phase: str, step: int, **metrics: float) -> None:
        """One epoch (or step) of ``phase``, e.g. a recognizer's mean training loss."""
        self._add([(phase, int(step), name, float(v)) for name, v in metrics.items()])

    def _add(self, rows) -> None:
        if not rows:
            return
        for phase, step, metric, value in rows:
            self.rows[(phase, metric, int(step))] = float(value)
        if not distributed.is_main():
            return
        atomic_write_text(self.csv_path, self.to_csv())
        atomic_write_bytes(self.png_path, self.to_png())
        if self._writer is not None:
            for key in sorted(set(self.rows) - self._sent):
                phase, metric, step = key
                self._writer.add_scalar(f"{phase}/{metric}", self.rows[key], step)
            self._writer.flush()
            self._sent = set(self.rows)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["phase", "step", "metric", "value"])
        for (phase, metric, step), value in sorted(self.rows.items()):
            writer.writerow([phase, step, metric, repr(round(value, 6))])
        return buf.getvalue()

    def to_png(self) -> bytes:
        from ..core.figures import figure, png

        phases = sorted({p for p, _, _ in self.rows})
        cols = min(3, len(phases))
        rows = math.ceil(len(phases) / cols)
        fig = figure(420 * cols, 260 * rows)
        for i, phase in enumerate(phases):
            ax = fig.add_subplot(rows, cols, i + 1)
            for metric in sorted({m for p, m, _ in self.rows if p == phase}):
                points = sorted((s, v) for (p, m, s), v in self.rows.items() if p == phase and m == metric)
                ax.plot([s for s, _ in points], [v for _, v in points], marker="." if len(points) < 30 else None,
                        label=metric)  # fmt: skip
            ax.set_title(phase, fontsize=9)
            ax.set_xlabel("epoch / step", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=6, loc="best")
        fig.tight_layout()
        return png(fig)
