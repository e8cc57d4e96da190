"""A ``uint8`` frame array ``F x H x W x 3`` in a NumPy ``.npy`` file, read and written by position.

The clip cache and an evaluation's transformed videos live in such files. They
are far larger than memory for the real datasets (VP-UCF101 at the paper profile:
tens of GB), so nothing ever loads one whole: every read copies just the frames
it asks for (``os.preadv``) and every write puts just its frames (``os.pwrite``).

Why positioned reads rather than ``np.memmap``: pages of a mapped file that a
process touched count in its resident memory until the kernel evicts them, so an
evaluation that samples clips from every video over many epochs would grow to the
size of the file, and under ``torchrun`` each rank would count it again. Read
this way, the file's pages sit once in the kernel's page cache (shared by every
process of the machine, reclaimed under pressure) and a process holds only the
frames of its current batch. The files stay ordinary ``.npy`` files that
``numpy.load`` opens with ``mmap_mode="r"``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...core.errors import VPBenchError


class FrameFile:
    """Frames of one ``.npy`` file; indexing (an int, a slice with step 1, or a 1-D integer array,
    optionally followed by indices of the other axes) returns a NumPy array copy."""

    def __init__(self, path: str | os.PathLike, writable: bool = False) -> None:
        self.path = Path(path)
        try:
            header = np.load(self.path, mmap_mode="r", allow_pickle=False)  # maps; touches no frame
        except (OSError, ValueError) as exc:
            raise VPBenchError(f"{self.path}: unreadable frame file ({type(exc).__name__})") from None
        if not isinstance(header, np.memmap) or header.dtype != np.uint8 or header.ndim != 4 or header.shape[3] != 3:
            raise VPBenchError(f"{self.path}: expected uint8 frames F x H x W x 3, found {header.dtype} {header.shape}")
        self.shape: tuple[int, int, int, int] = tuple(int(s) for s in header.shape)
        self._offset = int(header.offset)
        del header
        self._frame_bytes = self.shape[1] * self.shape[2] * 3
        self._writable = writable
        self._fd: int | None = None

    @classmethod
    def create(cls, path: str | os.PathLike, num_frames: int, frame_size: tuple[int, int]) -> FrameFile:
        """A new file of ``num_frames`` frames (sparse until written), open for writing."""
        h, w = (int(s) for s in frame_size)
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(int(num_frames), h, w, 3))
        del out  # only the header and the file's length were written
        return cls(path, writable=True)

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"FrameFile({str(self.path)!r}, shape={self.shape})"

    # The descriptor opens lazily and again after a fork (pool workers, torchrun's children get their own).
    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR if self._writable else os.O_RDONLY)
            self._pid = os.getpid()
        return self._fd

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None}

    def _read_run(self, out: np.ndarray, first: int) -> None:
        view = memoryview(out.reshape(-1))
        pos, done = self._offset + first * self._frame_bytes, 0
        while done < len(view):
            n = os.preadv(self._descriptor(), [view[done:]], pos + done)
            if n <= 0:
                raise VPBenchError(f"{self.path}: file ends before frame {first + len(out)}; delete it and rebuild it")
            done += n

    def read(self, rows) -> np.ndarray:
        """The frames at ``rows`` (any order, repeats allowed), one read per run of consecutive rows."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.shape[0]):
            raise IndexError(f"frame rows outside 0..{self.shape[0] - 1} of {self.path}")
        unique, inverse = np.unique(rows, return_inverse=True)
        out = np.empty((len(unique), *self.shape[1:]), dtype=np.uint8)
        cuts = [0, *(np.flatnonzero(np.diff(unique) != 1) + 1).tolist(), len(unique)]
        for a, b in zip(cuts[:-1], cuts[1:]):
            if b > a:
                self._read_run(out[a:b], int(unique[a]))
        return out if len(unique) == len(rows) and (unique == rows).all() else out[inverse]

    def read_range(self, start: int, stop: int) -> np.ndarray:
        if not 0 <= start <= stop <= self.shape[0]:
            raise IndexError(f"frames {start}:{stop} outside 0..{self.shape[0]} of {self.path}")
        out = np.empty((stop - start, *self.shape[1:]), dtype=np.uint8)
        if stop > start:
            self._read_run(out, start)
        return out

    def write(self, start: int, frames: np.ndarray) -> None:
        """Put ``frames`` (uint8 ``T x H x W x 3``) at rows ``start .. start + T``."""
        if not self._writable:
            raise VPBenchError(f"{self.path}: opened read-only")
        frames = np.ascontiguousarray(frames, dtype=np.uint8)
        if frames.shape[1:] != self.shape[1:] or not 0 <= start <= start + len(frames) <= self.shape[0]:
            raise VPBenchError(f"{self.path}: cannot write {frames.shape} at row {start} of {self.shape}")
        data = memoryview(frames.reshape(-1))
        pos, done = self._offset + start * self._frame_bytes, 0
        while done < len(data):
            done += os.pwrite(self._descriptor(), data[done:], pos + done)

    def flush(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def __getitem__(self, key) -> np.ndarray:
        rest: tuple = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        if isinstance(key, (int, np.integer)):
            k = int(key) + (self.shape[0] if int(key) < 0 else 0)
            out = self.read_range(k, k + 1)[0] if 0 <= k < self.shape[0] else None
            if out is None:
                raise IndexError(f"frame {int(key)} outside 0..{self.shape[0] - 1} of {self.path}")
        elif isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step != 1:
                raise IndexError("FrameFile slices take step 1")
            out = self.read_range(start, max(start, stop))
        else:
            out = self.read(key)
        return out[(slice(None), *rest)] if rest and out.ndim == 4 else (out[rest] if rest else out)
