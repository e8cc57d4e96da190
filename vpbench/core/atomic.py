"""Atomic file writes: a reader never sees a half-written file.

Write to a temporary file in the same directory, fsync it, then rename over
the target (rename is atomic on POSIX within one filesystem), then fsync the
directory so that the rename itself survives a power loss. A process killed
mid-write leaves at most a hidden ``.<name>.*.tmp`` beside the target, never
a truncated target.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = None
    try:
        # Held signals: a SIGTERM or Ctrl-C raised between creating the temporary and knowing its name would
        # leave it behind. Held, it acts right after, when the cleanup below knows what to remove.
        with signals_held():
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            tmp_path = Path(tmp)
            os.close(fd)
        # mkstemp makes the file private (0600); the target gets the mode open() would give it.
        os.chmod(tmp_path, _new_file_mode())
        write(tmp_path)
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if tmp_path is not None:
            with signals_held():  # a second, different signal (Ctrl-C after SIGTERM) waits for the unlink
                tmp_path.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for a few steps that must not be split: they act right after (a signal
    that another thread took from the OS is delivered again within ~20 ms by ``vpbench.cli``'s handler)."""
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    except (AttributeError, ValueError, OSError):  # no POSIX signal masks: nothing is held
        old = None
    try:
        yield
    finally:
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # a platform without directory handles (Windows): the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporary files a killed :func:`atomic_write` of ``path`` left behind."""
    path = Path(path)
    return sorted(path.parent.glob(glob.escape(f".{path.name}.") + "*.tmp")) if path.parent.is_dir() else []


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_json(obj: Any) -> str:
    """Stable JSON text (sorted keys, 2-space indent, trailing newline)."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, to_json(obj))


def check_output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Refuse, before any work, an output folder that cannot be written: a file in its place, a file
    among its parents, or a read-only place. Creates nothing; the check opens one unnamed
    temporary file in the nearest existing folder, since permission bits do not tell (root writes anyway,
    a read-only mount refuses everyone)."""
    from .errors import VPBenchError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise VPBenchError(f"{path}: the {what} is an existing file, not a folder")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise VPBenchError(f"{path}: cannot make the {what}: {probe} is a file")
    try:
        # An unnamed file (O_TMPFILE where the filesystem has it): a Ctrl-C during the check leaves nothing.
        with tempfile.TemporaryFile(prefix=".vpbench-write-check.", dir=probe):
            pass
    except OSError as exc:
        raise VPBenchError(f"{path}: cannot write the {what} there ({exc.strerror or type(exc).__name__})") from None
    return path


def check_output_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """Like :func:`check_output_dir`, for a file to be written: refuses a folder in its place."""
    from .errors import VPBenchError

    path = Path(path)
    if path.is_dir():
        raise VPBenchError(f"{path}: the {what} is an existing folder; name a file")
    check_output_dir(path.parent, f"folder of the {what}")
    return path


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**27 else f"{n / 2**20:.1f} MiB"


def check_free_space(path: str | os.PathLike, needed: int, what: str) -> Path:
    """Refuse, before any work, to write ``needed`` bytes of ``what`` under ``path``: the folder must be
    writable (see :func:`check_output_dir`) and its file system must have the room. One line, naming
    the folder and the size."""
    from .errors import VPBenchError

    path = Path(path)
    check_output_dir(path, f"folder of {what}, which needs {_gib(needed)}")
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise VPBenchError(
            f"{path}: {what} needs {_gib(needed)}, the disk has {_gib(free)} free; "
            "free space there or put the data on a larger disk"
        )
    return path
