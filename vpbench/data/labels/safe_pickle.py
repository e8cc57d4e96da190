"""Load a label pickle without letting it run code.

A pickle names the callables that rebuild its objects, and ``pickle.load``
imports and calls whatever it names, so a downloaded label file could run
anything. The STPrivacy label files are only a dict of strings to numpy
arrays, so :class:`_LabelUnpickler` admits only the names numpy's array
pickles use, and refuses every other global before it is imported.

Even the admitted names are not handed to numpy: numpy's own
``ndarray.__setstate__`` and ``dtype.__setstate__`` trust their input, and a
corrupted label pickle can crash the interpreter through them (found by
fuzzing). Each admitted name maps to a stand-in here that checks the shape,
the plain numeric dtype and the byte count, then copies the bytes into a new
array with ``numpy.frombuffer``.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import VPBenchError

__all__ = ["load_label_pickle"]

# Plain numeric dtypes as dtype.__reduce__ names them; labels never need more.
_DTYPE_NAMES = frozenset({"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"})
_BYTE_ORDERS = frozenset({"<", ">", "|", "="})


class _Refused(Exception):
    """A well-formed pickle asking for something labels never need."""


class _DtypeStub:
    """Stands in for ``numpy.dtype(name)`` until its byte order is known."""

    def __init__(self, name: Any, align: Any = False, copy: Any = True) -> None:
        if not isinstance(name, str) or name not in _DTYPE_NAMES:
            raise _Refused(f"dtype {name!r:.40} (not a plain number type)")
        self.dtype = np.dtype(name)

    def __setstate__(self, state: Any) -> None:
        # (version, byte order, subarray, names, fields, elsize, alignment, flags[, metadata])
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)):
            raise ValueError("malformed dtype state")
        order = state[1]
        if order not in _BYTE_ORDERS or any(part is not None for part in state[2:5]):
            raise _Refused("a structured or sub-array dtype")
        if order in "<>":
            self.dtype = self.dtype.newbyteorder(order)


def _dtype_of(value: Any) -> np.dtype:
    if not isinstance(value, _DtypeStub):
        raise ValueError("array without a dtype")
    return value.dtype


def _shape_of(value: Any) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(type(n) is int and n >= 0 for n in value):
        raise ValueError("malformed array shape")
    return value


def _array_from_bytes(raw: Any, dtype: np.dtype, shape: tuple[int, ...], fortran: bool) -> np.ndarray:
    if not isinstance(raw, (bytes, bytearray, pickle.PickleBuffer)):
        raise _Refused("array data that is not raw bytes (an object array?)")
    data = bytes(memoryview(raw))
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise ValueError("array data does not match its shape")
    # bytes(...) above is a private copy, so the array owns its memory.
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()


class _ArrayStub:
    """Stands in for ``ndarray`` from ``_reconstruct`` until ``__setstate__`` checks it."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple):
            raise ValueError("malformed array state")
        if len(state) == 5:
            version, *state = state
            if version != 1:
                raise ValueError("unknown array pickle version")
        if len(state) != 4:
            raise ValueError("malformed array state")
        shape, dtype, fortran, raw = state
        self.array = _array_from_bytes(raw, _dtype_of(dtype), _shape_of(shape), bool(fortran))


class _NdarrayToken:
    """What the name numpy.ndarray resolves to: only _reconstruct's first
    argument, never callable, so the file cannot call ndarray(shape, dtype,
    buffer, offset, strides) itself."""


_NDARRAY = _NdarrayToken()


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> _ArrayStub:
    if subtype is not _NDARRAY:
        raise _Refused("an ndarray subclass")
    return _ArrayStub()


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    # Protocol 5 rebuilds contiguous arrays this way instead of _reconstruct.
    if order not in ("C", "F"):
        raise ValueError("malformed array order")
    return _array_from_bytes(buf, _dtype_of(dtype), _shape_of(shape), order == "F")


def _latin1_encode(text: Any, encoding: Any = "latin1") -> bytes:
    # Protocols <= 2 carry bytes as latin-1 text through _codecs.encode; other
    # codecs (zlib, bz2, ...) would let a file inflate itself, so only latin-1.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused(f"_codecs.encode with encoding {encoding!r:.20}")
    return text.encode("latin1")


def _empty_bytes(*args: Any) -> bytes:
    # Protocol 2 writes an empty bytes object (an empty array's data) as bytes().
    if args:
        raise _Refused("bytes() with arguments")
    return b""


_ALLOWED: dict[tuple[str, str], Any] = {
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DtypeStub,
    ("_codecs", "encode"): _latin1_encode,
}
# numpy 2 renamed numpy.core to numpy._core; label files name either (the
# STPrivacy release uses numpy.core).
for _package in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_package}.multiarray", "_reconstruct")] = _reconstruct
    _ALLOWED[(f"{_package}.numeric", "_frombuffer")] = _frombuffer


def _printable(text: str) -> str:
    # A crafted pickle can put newlines in names; error messages stay one line.
    return text if text.isprintable() else repr(text)[1:-1]


def _refusal(display: str, what: str) -> VPBenchError:
    return VPBenchError(
        f"{display}: refused to load pickle: it references {what}, "
        "which a label file never needs (only dicts, strings and numpy arrays are allowed)"
    )


class _LabelUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, display: str) -> None:
        super().__init__(file)
        self._display = display

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _refusal(self._display, f"{_printable(module)}.{_printable(name)}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _refusal(self._display, "a persistent id")


def load_label_pickle(path: str | Path) -> dict[str, np.ndarray]:
    """Load a pickle that must be a dict of ``str`` -> numeric ``numpy.ndarray``.

    Only the numpy names that rebuild plain numeric arrays may be referenced;
    anything else (a custom class, ``os.system``, ``builtins.open``, an
    object array, ...) is refused before it is imported, with a
    :class:`VPBenchError` naming the file. A corrupt or truncated file, or
    one holding anything but that dict, is a :class:`VPBenchError` too.
    """
    path = Path(path)
    display = str(path)
    try:
        data = path.read_bytes()
        # Walk the opcodes first, building nothing: a garbled length field
        # (say 7e18 bytes) is rejected here. Handed to the C unpickler it
        # becomes a MemoryError after which CPython reports a bytearray
        # freed with buffers still exported (found by fuzzing).
        for _ in pickletools.genops(data):
            pass
        obj = _LabelUnpickler(io.BytesIO(data), display).load()
    except VPBenchError:
        raise
    except _Refused as exc:
        raise _refusal(display, str(exc)) from None
    except OSError as exc:
        raise VPBenchError(f"{display}: cannot read label pickle ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - untrusted bytes can fail in any way
        # A truncated or garbled pickle surfaces as EOFError, UnpicklingError,
        # ValueError, TypeError, MemoryError, ... depending on where it breaks.
        first = str(exc).splitlines()[0] if str(exc).strip() else ""
        reason = _printable(first[:120]) if first else type(exc).__name__
        raise VPBenchError(f"{display}: not a readable label pickle ({reason})") from None

    if not isinstance(obj, dict):
        raise VPBenchError(
            f"{display}: label pickle holds a {type(obj).__name__}, expected a dict of video name -> numpy array"
        )
    labels: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise VPBenchError(
                f"{display}: label pickle has a non-string key {type(key).__name__}; expected video names"
            )
        if isinstance(value, _ArrayStub):
            value = value.array
        if type(value) is not np.ndarray:
            shown = "an incomplete array" if value is None else f"a {type(value).__name__}"
            raise VPBenchError(f"{display}: label of '{_printable(key)}' is {shown}, expected a numpy array")
        labels[key] = value
    return labels
