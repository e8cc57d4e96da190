"""All-or-nothing dataset folders: a build writes into a hidden sibling and swaps it in when complete.

``vpbench build --out data/x`` never writes inside ``data/x`` while it works. It
takes an advisory lock (``data/.x.lock``: one build per folder at a time),
builds into ``data/.x.staging-<pid>``, and only when every file is written
moves into the new folder what the previous one holds and the new build does
not replace (a raw tree that lives in ``data/x/raw``, the clip cache, your own
files), then swaps the two folders and removes the old one. A failure or an
interrupt before the swap removes the staging folder and leaves ``data/x``
exactly as it was; the swap itself is a few renames with SIGINT and SIGTERM
held back, so only a power loss or SIGKILL can split it, and the next build
finds and restores what such a crash left (:func:`_recover`).
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.atomic import signals_held
from ..core.errors import VPBenchError


def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def staging_path(out: Path) -> Path:
    return out.parent / f".{out.name}.staging-{os.getpid()}"


def _old_path(out: Path) -> Path:
    return out.parent / f".{out.name}.old-{os.getpid()}"


@contextmanager
def build_lock(out: Path) -> Iterator[None]:
    """Hold the advisory lock of ``out`` for one build; a second build of the same folder fails at once."""
    import fcntl

    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(out), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise VPBenchError(
                    f"{out}: another `vpbench build` is writing this folder; wait for it or choose another --out"
                ) from None
            raise
        # The lock file stays: removing it would let a third build lock a new file while the second still waits on the
        # old one.
        _recover(out)
        yield
    finally:
        os.close(fd)


_JOURNAL = ".vpbench-commit"  # in the staging folder during the swap: the previous folder's entries moved into it


def _recover(out: Path) -> None:
    """Clean up after a build killed without a chance to clean (SIGKILL, power loss); runs under the lock."""
    for old in sorted(out.parent.glob(f".{out.name}.old-*")):
        if not out.exists():
            # Killed between the two renames of the swap: the old folder is the last complete dataset.
            os.rename(old, out)
        else:
            # Killed after the swap, while removing the old folder (its kept entries were already moved).
            shutil.rmtree(old, ignore_errors=True)
    for staging in out.parent.glob(f".{out.name}.staging-*"):
        journal = staging / _JOURNAL
        if journal.is_file() and out.is_dir():
            # Killed while the previous folder's own entries (a raw tree, your files) sat in the staging folder.
            for name in journal.read_text().splitlines():
                if (staging / name).exists() and not (out / name).exists():
                    os.rename(staging / name, out / name)
        shutil.rmtree(staging, ignore_errors=True)
    (out / _JOURNAL).unlink(missing_ok=True)


def new_staging(out: Path) -> Path:
    staging = staging_path(out)
    staging.mkdir(parents=True)
    return staging


def commit(staging: Path, out: Path, replaced: Iterable[str]) -> None:
    """Make ``staging`` the folder ``out``. Entries of the previous ``out`` named in ``replaced`` go
    (the new build wrote its own or dropped them); every other entry moves into the new folder."""
    replaced = set(replaced)
    with signals_held():
        if not out.exists() and not out.is_symlink():
            os.rename(staging, out)
            return
        if out.is_symlink() or not out.is_dir():
            raise VPBenchError(f"{out}: exists and is not a folder; choose another --out")
        kept = [p for p in out.iterdir() if p.name not in replaced and p.name != _JOURNAL]
        moved: list[Path] = []
        journal = staging / _JOURNAL
        journal.write_text("".join(f"{p.name}\n" for p in kept))
        try:
            for entry in kept:
                if (staging / entry.name).exists() or (staging / entry.name).is_symlink():
                    raise VPBenchError(f"{entry}: the new build also writes '{entry.name}'; move it out of {out} first")
                os.rename(entry, staging / entry.name)
                moved.append(entry)
        except BaseException:
            for entry in reversed(moved):  # put the previous folder back as it was
                os.rename(staging / entry.name, entry)
            journal.unlink()
            raise
        old = _old_path(out)
        os.rename(out, old)
        os.rename(staging, out)
        (out / _JOURNAL).unlink()
    shutil.rmtree(old, ignore_errors=True)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
