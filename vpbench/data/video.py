"""Video IO: probing, decoding and encoding.

Convention at this boundary: frames are ``uint8`` arrays of shape
``T x H x W x 3`` (RGB). Decoding uses decord (fast random access) and falls
back to PyAV when decord is missing or fails on a file; probing and encoding
use PyAV, which raises clean errors on broken files where decord may crash.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..core.errors import VPBenchError
from ..core.files import VIDEO_EXTENSIONS  # noqa: F401 - re-exported: the one list of video suffixes

log = logging.getLogger(__name__)


class VideoError(VPBenchError):
    """A video file that cannot be read as a video (empty, truncated, not a video)."""


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    fps: float
    width: int
    height: int
    codec: str

    def as_dict(self) -> dict:
        return asdict(self)


def _open_av(path: str | os.PathLike):
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")
    try:
        container = av.open(str(path))
    except Exception as exc:  # PyAV raises many error types for non-videos
        raise VideoError(f"{path}: not a readable video ({_short(exc)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: contains no video stream")
    return container


def _short(exc: BaseException) -> str:
    # PyAV's errors read "[Errno 1094995529] Invalid data ...: '<path>'": the reason alone is the message.
    reason = getattr(exc, "strerror", None)
    if isinstance(reason, str) and reason.strip():
        return reason.strip()
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def probe_video(path: str | os.PathLike, verify: bool = True) -> VideoInfo:
    """Frame count, fps, size and codec of a video file.

    The frame count is the number of frames that actually decode
    (``verify=True``), not the container's header value: a truncated AVI
    keeps its original header count, and a benchmark must never sample a
    frame that fails to decode later. With ``verify=False`` frames are
    counted by demuxing packets only (faster, trusts the packets).
    """
    container = _open_av(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        width, height = stream.codec_context.width, stream.codec_context.height
        codec = stream.codec_context.name
        n = 0
        try:
            if verify:
                for frame in container.decode(stream):
                    n += 1
                    width, height = frame.width, frame.height
            else:
                n = sum(1 for packet in container.demux(stream) if packet.size)
        except Exception as exc:
            raise VideoError(f"{path}: undecodable after frame {n} ({_short(exc)})") from None
    finally:
        container.close()
    if n == 0:
        raise VideoError(f"{path}: no decodable frame")
    if width <= 0 or height <= 0:
        raise VideoError(f"{path}: invalid frame size {width}x{height}")
    return VideoInfo(num_frames=n, fps=fps, width=int(width), height=int(height), codec=codec)


def _read_frames_av(path: str | os.PathLike, indices: np.ndarray) -> np.ndarray:
    wanted = np.asarray(indices, dtype=np.int64)
    order = np.unique(wanted)
    got: dict[int, np.ndarray] = {}
    container = _open_av(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        last = int(order[-1]) if len(order) else -1
        for i, frame in enumerate(container.decode(stream)):
            if i > last:
                break
            if i in order:
                got[i] = frame.to_ndarray(format="rgb24")
    except VideoError:
        raise
    except Exception as exc:
        raise VideoError(f"{path}: decoding failed ({_short(exc)})") from None
    finally:
        container.close()
    missing = [int(i) for i in order if int(i) not in got]
    if missing:
        raise VideoError(f"{path}: frame {missing[0]} is past the decodable end ({len(got)} frames read)")
    return np.stack([got[int(i)] for i in wanted]) if len(wanted) else np.zeros((0, 0, 0, 3), np.uint8)


def read_frames(path: str | os.PathLike, indices: Sequence[int] | np.ndarray, backend: str = "auto") -> np.ndarray:
    """Decode the frames at ``indices`` (any order, repeats allowed): uint8 ``T x H x W x 3``.

    ``backend``: ``"decord"``, ``"pyav"`` or ``"auto"`` (decord, PyAV if it fails).
    """
    indices = np.asarray(indices, dtype=np.int64)
    if backend not in ("auto", "decord", "pyav"):
        raise VPBenchError(f"unknown decoding backend '{backend}'; choose auto, decord or pyav")
    if backend in ("auto", "decord"):
        try:
            import decord

            reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
            if len(indices) and (indices.min() < 0 or indices.max() >= len(reader)):
                raise VideoError(f"{path}: frame index out of range (video has {len(reader)} frames)")
            return reader.get_batch(indices.tolist()).asnumpy()
        except VideoError:
            raise
        except Exception as exc:
            if backend == "decord":
                raise VideoError(f"{path}: decord could not decode ({_short(exc)})") from None
            log.debug("decord failed on %s (%s); falling back to PyAV", path, exc)
    return _read_frames_av(path, indices)


def read_video(path: str | os.PathLike) -> np.ndarray:
    """Decode every frame: uint8 ``T x H x W x 3``."""
    info = probe_video(path, verify=False)
    try:
        return read_frames(path, np.arange(info.num_frames))
    except VideoError:
        # The packet count can exceed the decodable frames; decode to the end instead.
        return _decode_all_av(path)


def _decode_all_av(path: str | os.PathLike) -> np.ndarray:
    container = _open_av(path)
    frames = []
    try:
        for frame in container.decode(container.streams.video[0]):
            frames.append(frame.to_ndarray(format="rgb24"))
    except Exception as exc:
        if not frames:
            raise VideoError(f"{path}: decoding failed ({_short(exc)})") from None
    finally:
        container.close()
    return np.stack(frames)


def iter_video(path: str | os.PathLike, window: int, limit: int | None = None) -> Iterator[np.ndarray]:
    """Decode the frames in order, ``window`` at a time: uint8 ``t x H x W x 3`` (the last window may be shorter).

    Memory is bounded by the window, not by the video's length (PyAV, decoding incrementally).
    Stops after ``limit`` frames, or at the first frame that fails to decode, as :func:`read_video`
    does on a truncated file; a video with no decodable frame is an error.
    """
    if window < 1:
        raise VPBenchError(f"iter_video needs a window of at least one frame, got {window}")
    container = _open_av(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        decoded, buffer, count = container.decode(stream), [], 0
        while limit is None or count < limit:
            try:
                frame = next(decoded)
            except StopIteration:
                break
            except Exception as exc:
                if count == 0:
                    raise VideoError(f"{path}: decoding failed ({_short(exc)})") from None
                break
            buffer.append(frame.to_ndarray(format="rgb24"))
            count += 1
            if len(buffer) == window:
                yield np.stack(buffer)
                buffer = []
        if buffer:
            yield np.stack(buffer)
        elif count == 0:
            raise VideoError(f"{path}: no decodable frame")
    finally:
        container.close()


VIDEO_FORMATS = {".avi": "avi", ".mp4": "mp4", ".mkv": "matroska", ".mov": "mov"}  # suffix -> container we write


def video_format(path: str | os.PathLike) -> str:
    """The container written for ``path``'s suffix; a suffix we cannot write is an error (checked before any work)."""
    path = Path(path)
    fmt = VIDEO_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise VPBenchError(f"{path}: cannot write video with suffix '{path.suffix}' (use .avi, .mp4, .mkv or .mov)")
    return fmt


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise VPBenchError(f"write_video needs uint8 frames of shape T x H x W x 3, got {frames.dtype} {frames.shape}")
    return frames


CODECS = ("mpeg4", "h264")  # what write_video_windows encodes with


def _encode(
    target: Path, windows: Iterable[np.ndarray], fps: float, bit_rate: int, fmt: str, codec: str = "mpeg4"
) -> int:
    """The one encoder: windows of frames, encoded as they come (the size is the first window's).

    ``mpeg4``: MPEG-4 Part 2 (HMDB51/UCF101's codec) at ``bit_rate``, single-threaded so that the
    same frames give the same bytes whether they arrive in one window or many. ``h264``: H.264 at
    constant quality (crf 20), the index at the front of an MP4: what browsers play (`vpbench view`);
    its sides must be even. Returns the number of frames encoded.
    """
    import av

    h264 = codec == "h264"
    container = av.open(str(target), "w", format=fmt, options={"movflags": "+faststart"} if h264 else None)
    try:
        stream, count = None, 0
        for window in windows:
            window = _check_frames(window)
            if stream is None:
                stream = container.add_stream("libx264" if h264 else "mpeg4", rate=_fraction(fps))
                stream.width, stream.height = window.shape[2], window.shape[1]
                stream.pix_fmt = "yuv420p"
                if h264:
                    stream.options = {"crf": "20", "preset": "veryfast"}
                else:
                    stream.bit_rate = bit_rate
                    stream.codec_context.thread_count = 1
            elif window.shape[1:3] != (stream.height, stream.width):
                raise VPBenchError(
                    f"frame {count} is {window.shape[2]}x{window.shape[1]}, the video is {stream.width}x{stream.height}"
                )
            for f in window:
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                    container.mux(packet)
            count += len(window)
        if stream is None:
            raise VPBenchError(f"{target}: no frame to write")
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    return count


def write_video_windows(
    path: str | os.PathLike,
    windows: Iterable[np.ndarray],
    fps: float = 25.0,
    bit_rate: int = 4_000_000,
    expect_frames: int | None = None,
    codec: str = "mpeg4",
) -> Path:
    """Encode an iterable of uint8 ``t x H x W x 3`` windows as one video, window by window.

    Memory is bounded by a window, not by the video's length. The file is encoded under a temporary
    name beside ``path`` and renamed only when complete, so a crash, an error raised by the iterable
    or an interrupt leaves neither a truncated video nor the temporary file. ``expect_frames``: the
    frame count the written file must have, checked before the rename. ``codec``: one of
    :data:`CODECS` (``bit_rate`` applies to ``mpeg4``).
    """
    from ..core.atomic import atomic_write

    path = Path(path)
    fmt = video_format(path)
    if codec not in CODECS:
        raise VPBenchError(f"cannot encode with codec '{codec}' (use {' or '.join(CODECS)})")

    def _write(tmp: Path) -> None:
        count = _encode(tmp, windows, fps, bit_rate, fmt, codec)
        if expect_frames is not None:
            # Demuxing the packets is cheap; a frame lost between encoder and muxer must not get renamed into place.
            written = probe_video(tmp, verify=False).num_frames
            if count != expect_frames or written != expect_frames:
                raise VPBenchError(f"{path}: wrote {written} frames, expected {expect_frames}")

    return atomic_write(path, _write)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float = 25.0, bit_rate: int = 4_000_000) -> Path:
    """Encode uint8 ``T x H x W x 3`` frames as MPEG-4 Part 2 (HMDB51/UCF101's codec).

    The container follows the suffix (``.avi`` as in HMDB51/UCF101, ``.mp4``...).
    Encoding is single-threaded so that the same frames give the same bytes.
    The file is written to a temporary name and renamed, so a crash never
    leaves a truncated video behind. One window of :func:`write_video_windows`.
    """
    return write_video_windows(path, [_check_frames(frames)], fps=fps, bit_rate=bit_rate)


def _fraction(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)
