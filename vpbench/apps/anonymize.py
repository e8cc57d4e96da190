"""`vpbench anonymize`: run a method on a whole video of any length and size.

Learned methods see what they were trained on: frames resized to the
network's resolution, clips of its length taken at its training frame
interval (interleaved, so every frame is transformed exactly once), then
resized back. Non-learned methods act on the frames at their own size. The
output has the input's frame count and frame rate, and is written atomically.

The video streams: frames are decoded, transformed and encoded a window of
``clip_len * frame_interval`` frames at a time (one whole clip of every
phase), so memory is bounded by the window, not by the video's length. The
clips are exactly those of a one-shot pass over the whole video
(:func:`clip_plan`): the last clip of each phase ends at the video's end and
overlaps the one before it, and a frame two clips share takes the later
one's output, as the one-shot pass's last write did.

Every run records what it did in ``<output>.json`` beside the video: the
method, its options, the inputs, and the share of pixels it changed (a box
method that changed nothing is visible there, and on the command line).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import __version__
from ..core.atomic import atomic_write_json, check_output_file
from ..core.errors import VPBenchError
from ..data.boxes import boxes_by_frame, check_boxes, rasterize, read_boxes_csv
from ..data.frames.decode import resize_frames
from ..data.video import iter_video, probe_video, video_format, write_video_windows
from ..methods import create_method
from ..methods.base import PrivacyMethod


def format_share(share: float) -> str:
    """A share as a percentage that never rounds a change to 0% (nor a partial change to 100%)."""
    if 0 < share < 0.001:
        return "<0.1%"
    if 0.999 < share < 1:
        return ">99.9%"
    return f"{share:.1%}"


def _text(path) -> str | None:
    """A path as JSON-safe text: a name that is not valid UTF-8 keeps its bytes as \\xNN escapes."""
    return None if path is None else os.fsencode(path).decode("utf-8", "backslashreplace")


def record_path(dst: str | os.PathLike) -> Path:
    """Where a run's record goes: ``<output>.json`` beside the video."""
    return Path(f"{dst}.json")


# --------------------------------------------------------------------------- checks before any decoding


def _check_paths(src: Path, dst: Path) -> None:
    if src.is_dir():
        raise VPBenchError(f"{src}: is a folder, not a video file")
    if src.resolve() == dst.resolve():
        raise VPBenchError("the output must be a different file from the input")
    check_output_file(dst, "output video")
    video_format(dst)
    check_output_file(record_path(dst), "output record")


def _check_arguments(
    m: PrivacyMethod, method: str, checkpoint, boxes, whole_frame: bool, allow_empty_boxes: bool
) -> None:
    """An argument the method does not use is an error: silently ignoring it hides a user's mistake."""
    if m.learned and checkpoint is None:
        raise VPBenchError(
            f"method '{method}' is learned: pass --checkpoint (a .pt file written by `vpbench evaluate`)"
        )
    if not m.learned and checkpoint is not None:
        raise VPBenchError(f"method '{method}' is not learned and takes no --checkpoint")
    if not m.needs_person_masks:
        given = [
            flag
            for flag, on in (
                ("--boxes", boxes is not None),
                ("--whole-frame", whole_frame),
                ("--allow-empty-boxes", allow_empty_boxes),
            )
            if on
        ]
        if given:
            raise VPBenchError(f"method '{method}' does not use person boxes: drop {' and '.join(given)}")
        return
    if boxes is not None and whole_frame:
        raise VPBenchError("pass --boxes or --whole-frame, not both")
    if boxes is None and not whole_frame:
        raise VPBenchError(
            f"method '{method}' needs person boxes: pass --boxes FILE.csv (frame,x0,y0,x1,y1) or --whole-frame"
        )
    if allow_empty_boxes and boxes is None:
        raise VPBenchError("--allow-empty-boxes goes with --boxes (with --whole-frame every frame is acted on)")


def read_boxes_for(path: str | os.PathLike, allow_empty: bool = False, method: str = "") -> pd.DataFrame:
    """A video's person boxes (``frame, x0, y0, x1, y1``; other columns ignored), every cell a number.

    Read before the video is probed, so a bad cell fails first. A file with no box at all is refused
    unless ``allow_empty``: a box method would change no pixel while its output looks anonymized.
    The boxes' geometry needs the video's size: :func:`vpbench.data.boxes.check_boxes` after the probe.
    """
    table = read_boxes_csv(path, ["frame", "x0", "y0", "x1", "y1"])
    if table.empty and not allow_empty:
        raise VPBenchError(
            f"{path}: holds no box, so '{method}' would change no pixel of the video; "
            "pass --allow-empty-boxes if that is what you want"
        )
    return table


# --------------------------------------------------------------------------- the streaming transform


@dataclass(frozen=True)
class Geometry:
    """How a method sees a video: frames at ``work_hw``, clips of ``clip_len`` frames ``interval`` apart."""

    src_hw: tuple[int, int]
    work_hw: tuple[int, int]
    clip_len: int
    interval: int

    @property
    def window(self) -> int:
        """Frames read at a time: one whole clip of every phase."""
        return self.clip_len * self.interval


# Non-learned methods act at the video's own size, on clips of at most 16 frames and at most about four
# 720p frames' worth of pixels: the blurs' float working copies take some 120 MB per 720p frame, so 16 HD
# frames at once peaked near 3 GB. The built-in ones act frame by frame, so the cut never changes a pixel.
FIXED_CLIP_LEN = 16
FIXED_CLIP_PIXELS = 4 * 1280 * 720


def method_geometry(m: PrivacyMethod, height: int, width: int) -> Geometry:
    net = getattr(m, "net", None)
    if net is not None:  # a learned method: the network's training resolution, clip length and interval
        cfg = net.config
        return Geometry(
            (height, width), (cfg.height, cfg.width), int(cfg.frames), int(getattr(m, "frame_interval", 1) or 1)
        )
    clip_len = max(1, min(FIXED_CLIP_LEN, FIXED_CLIP_PIXELS // (height * width)))
    return Geometry((height, width), (height, width), clip_len, 1)


def clip_plan(num_frames: int, clip_len: int, interval: int) -> list[np.ndarray]:
    """The clips of a whole video, in the one-shot pass's order: phase by phase, clips of every
    ``interval``-th frame; each phase's last clip ends at the video's end (overlapping the one before
    it), and a phase shorter than a clip is one short clip."""
    clips = []
    for phase in range(min(interval, num_frames)):
        idx = np.arange(phase, num_frames, interval)
        starts = list(range(0, max(len(idx) - clip_len, 0) + 1, clip_len))
        if starts[-1] + clip_len < len(idx):
            starts.append(len(idx) - clip_len)
        clips += [idx[s : s + clip_len] for s in starts]
    return clips


MaskFn = Callable[[np.ndarray], "np.ndarray | None"]  # frame indices -> their masks t x H x W at the source size


def stream_transform(
    m: PrivacyMethod,
    windows: Iterable[np.ndarray],
    num_frames: int,
    geometry: Geometry,
    masks_for: MaskFn | None = None,
    batch: int = 8,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Transform a video given as consecutive windows of frames; yields ``(input, output)`` windows in order.

    Gives exactly the frames of a one-shot pass over the whole video (same clips, and a shared frame
    takes the last clip's output). A clip runs once its last frame has been read; a frame is yielded
    once the last clip that writes it has run; a frame is dropped once yielded and no pending clip
    reads it. The last clips reach back at most one window, so at most about two windows are held.
    """
    g = geometry
    plan = clip_plan(num_frames, g.clip_len, g.interval)
    owner = np.empty(num_frames, dtype=np.int64)
    for i, clip in enumerate(plan):
        owner[clip] = i  # the last clip in plan order writes the frame, as in the one-shot pass
    order = sorted(range(len(plan)), key=lambda i: (int(plan[i][-1]), i))  # ready when its last frame is read
    # Lowest frame any clip from order[k:] on reads: inputs below it are no longer needed.
    needed_from = np.minimum.accumulate([int(plan[i][0]) for i in order][::-1])[::-1].tolist() + [num_frames]
    source, work, masks, done = {}, {}, {}, {}
    read = emitted = ran = dropped = 0
    for chunk in windows:
        idx = np.arange(read, read + len(chunk))
        if idx[-1] >= num_frames:
            raise VPBenchError(f"the video decodes to more than the {num_frames} frames it was probed with")
        read += len(chunk)
        source.update(zip(idx.tolist(), chunk))
        work.update(zip(idx.tolist(), resize_frames(chunk, g.work_hw)))
        if masks_for is not None:
            masks.update(zip(idx.tolist(), _work_masks(masks_for(idx), g.work_hw)))
        ready = []
        while ran < len(order) and plan[order[ran]][-1] < read:
            ready.append(order[ran])
            ran += 1
        _run_clips(
            m, [plan[i] for i in ready], ready, owner, work, masks if masks_for is not None else None, done, batch
        )
        end = emitted
        while end in done:
            end += 1
        if end > emitted:
            frames = range(emitted, end)
            out = resize_frames(np.stack([done.pop(f) for f in frames]), g.src_hw)
            yield np.stack([source.pop(f) for f in frames]), out
            emitted = end
        # Working frames only feed clips: those below every pending clip's first frame are done with.
        low = min(needed_from[ran], read)
        for f in range(dropped, low):
            work.pop(f, None)
            masks.pop(f, None)
        dropped = max(dropped, low)
    if read != num_frames or emitted != num_frames:
        raise VPBenchError(f"the video decoded to {read} frames, {num_frames} when probed")


def _work_masks(masks: np.ndarray | None, work_hw: tuple[int, int]) -> np.ndarray | None:
    if masks is None or masks.shape[1:3] == tuple(work_hw):
        return masks
    # Masks follow the frames to the network's resolution, as frames do: resized, then thresholded.
    return resize_frames(masks[..., None].repeat(3, -1).astype(np.uint8) * 255, work_hw)[..., 0] > 127


def _run_clips(
    m: PrivacyMethod,
    clips: list[np.ndarray],
    ids: list[int],
    owner: np.ndarray,
    work: dict,
    masks: dict | None,
    done: dict,
    batch: int,
) -> None:
    """Transform ``clips`` (at most ``batch`` at a time, one length per call) and keep the frames each one owns."""
    for start in range(0, len(clips), batch):
        group = list(zip(ids[start : start + batch], clips[start : start + batch]))
        # Clips in one call must have one length: a video shorter than a clip gives short ones.
        for length in sorted({len(c) for _, c in group}):
            same = [(i, c) for i, c in group if len(c) == length]
            x = torch.from_numpy(np.stack([np.stack([work[f] for f in c.tolist()]) for _, c in same]))
            mask_t = (
                None
                if masks is None
                else torch.from_numpy(np.stack([np.stack([masks[f] for f in c.tolist()]) for _, c in same]))
            )
            with torch.no_grad():
                result = m.transform(x, mask_t)
            if result.shape != x.shape or result.dtype != torch.uint8:
                raise VPBenchError(
                    f"method '{m.name}' returned {tuple(result.shape)} {result.dtype} for {tuple(x.shape)} uint8 clips"
                )
            for (i, c), r in zip(same, result.numpy()):
                for f, frame in zip(c.tolist(), r):
                    if owner[f] == i:
                        done[f] = frame


# --------------------------------------------------------------------------- the command


def anonymize_video(
    method: str,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    checkpoint: str | os.PathLike | None = None,
    options: dict | None = None,
    boxes: str | os.PathLike | None = None,
    whole_frame: bool = False,
    batch: int = 8,
    progress: bool = True,
    allow_empty_boxes: bool = False,
) -> dict:
    """Anonymize ``src`` into ``dst``, streaming; returns what was done, also written to ``<dst>.json``.

    Every argument is checked before any decoding: paths, arguments the method does not take, the
    checkpoint, and the boxes. An error or an interrupt leaves ``dst`` as it was and no temporary file.
    """
    from ..core.progress import Progress

    src, dst = Path(src), Path(dst)
    _check_paths(src, dst)
    options = dict(options or {})
    m = create_method(method, **options)
    _check_arguments(m, method, checkpoint, boxes, whole_frame, allow_empty_boxes)
    if m.learned:
        m.load(checkpoint)
    table = None if boxes is None else read_boxes_for(boxes, allow_empty_boxes, method)
    info = probe_video(src)
    n, h, w = info.num_frames, info.height, info.width
    masks_for = None
    if table is not None:
        by_frame = boxes_by_frame(check_boxes(table, boxes, n, w, h))
        masks_for = lambda idx: rasterize(by_frame, idx, (h, w))  # noqa: E731
    elif whole_frame:
        masks_for = lambda idx: np.ones((len(idx), h, w), dtype=bool)  # noqa: E731
    geometry = method_geometry(m, h, w)
    changed = [0]
    bar = Progress(total=n, desc=f"anonymizing ({method})", unit="frame", disable=not progress)

    def outputs() -> Iterator[np.ndarray]:
        frames = iter_video(src, geometry.window, limit=n)
        for inp, out in stream_transform(m, frames, n, geometry, masks_for, batch):
            changed[0] += int(np.any(inp != out, axis=-1).sum())  # pixels with any channel changed
            bar.update(len(out))
            yield out

    record = record_path(dst)
    # The old record describes the old video: gone before the new video can take its place.
    record.unlink(missing_ok=True)
    try:
        write_video_windows(dst, outputs(), fps=info.fps or 25.0, expect_frames=n)
    finally:
        bar.close()
    done = {
        "vpbench": __version__,
        "method": method,
        "version": m.version,
        "options": json.loads(json.dumps(options, default=str)),  # a YAML-parsed value (a date) as text
        "input": _text(src),
        "output": _text(dst),
        "checkpoint": _text(checkpoint),
        "boxes": _text(boxes),
        "whole_frame": bool(whole_frame),
        "allow_empty_boxes": bool(allow_empty_boxes),
        "frames": n,
        "fps": info.fps,
        "width": w,
        "height": h,
        "working_size": list(geometry.work_hw),
        "clip_len": geometry.clip_len,
        "frame_interval": geometry.interval,
        "changed_share": changed[0] / (n * h * w),
    }
    atomic_write_json(record, done)
    return {**done, "record": _text(record)}
