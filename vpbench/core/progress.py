"""Progress that still reports without a terminal.

tqdm switches its bar off when stderr is not a terminal (its ``disable=None``), so a cluster job, a ``nohup``
run or CI would log nothing for an hour of training. :class:`Progress` is tqdm on a terminal; elsewhere it
writes the same status as whole lines, at most one per :data:`LOG_EVERY_S` seconds plus the last one when
the work ends (each epoch, stage or build step ends with its line). Under ``torchrun`` only rank 0 reports,
so that N processes write one log, not N.
"""

from __future__ import annotations

import os
import sys

from tqdm import tqdm

LOG_EVERY_S = 30.0


class _Lines:
    """A file for tqdm that turns its redraws (``\\r`` + status) into one log line each."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def _is_other_rank() -> bool:
    # torchrun sets RANK before the process starts; reading it keeps this module free of torch.
    return os.environ.get("RANK", "0") not in ("", "0")


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or file-less stream
        return False


class Progress(tqdm):
    """tqdm with tqdm's arguments; ``disable=False`` (the default) means on, as a bar or as log lines.

    Off on every process but rank 0 under ``torchrun``."""

    def __init__(self, *args, disable: bool = False, **kwargs) -> None:
        disable = disable or _is_other_rank()
        stream = kwargs.get("file") or sys.stderr
        self._as_lines = not disable and not _is_terminal(stream)
        if self._as_lines:
            kwargs.update(file=_Lines(stream), mininterval=LOG_EVERY_S, ncols=100, ascii=True)
        super().__init__(*args, disable=disable, **kwargs)

    def set_postfix(self, ordered_dict=None, refresh=True, **kwargs) -> None:
        # A postfix set every step (a loss) must not print a line every step: it shows with the next line.
        super().set_postfix(ordered_dict, refresh=refresh and not self._as_lines, **kwargs)
