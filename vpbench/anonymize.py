"""`vpbench anonymize`: run a method on a whole video of any length and size.

Learned methods see what they were trained on: frames resized to the
network's resolution, clips of its length taken at its training frame
interval (interleaved, so every frame is transformed exactly once), then
resized back. Non-learned methods act on the frames at their own size. The
output has the input's frame count and frame rate, and is written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .data.store import resize_frames
from .data.video import probe_video, read_video, write_video
from .errors import VPBenchError
from .methods import create_method


def _read_boxes_for(path: Path, num_frames: int, src_hw: tuple[int, int]) -> np.ndarray:
    """Person masks ``T x H x W`` from a boxes CSV (``frame, x0, y0, x1, y1``; other columns ignored)."""
    try:
        table = pd.read_csv(path)
    except Exception as exc:
        raise VPBenchError(f"{path}: cannot read boxes CSV ({type(exc).__name__})") from None
    missing = [c for c in ("frame", "x0", "y0", "x1", "y1") if c not in table.columns]
    if missing:
        raise VPBenchError(f"{path}: boxes CSV lacks columns {', '.join(missing)}")
    h, w = src_hw
    masks = np.zeros((num_frames, h, w), dtype=bool)
    for row in table.itertuples(index=False):
        if not 0 <= int(row.frame) < num_frames:
            raise VPBenchError(f"{path}: box for frame {row.frame}, the video has {num_frames} frames")
        masks[int(row.frame), max(int(row.y0), 0) : min(int(row.y1), h), max(int(row.x0), 0) : min(int(row.x1), w)] = True
    return masks


def anonymize_video(
    method: str, src: str | os.PathLike, dst: str | os.PathLike, checkpoint: str | os.PathLike | None = None,
    options: dict | None = None, boxes: str | os.PathLike | None = None, whole_frame: bool = False, batch: int = 8,
    progress: bool = True,
) -> dict:
    """Anonymize ``src`` into ``dst``; returns what was done (frames, fps, size, method, working size)."""
    from tqdm import tqdm

    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise VPBenchError("the output must be a different file from the input")
    m = create_method(method, **(options or {}))
    if m.learned:
        if checkpoint is None:
            raise VPBenchError(f"method '{method}' is learned: pass --checkpoint (a .pt file written by `vpbench evaluate`)")
        m.load(checkpoint)
    info = probe_video(src)
    frames = read_video(src)[: info.num_frames]
    n, h, w, _ = frames.shape
    masks = None
    if m.needs_person_masks:
        if whole_frame:
            masks = np.ones((n, h, w), dtype=bool)
        elif boxes is not None:
            masks = _read_boxes_for(Path(boxes), n, (h, w))
        else:
            raise VPBenchError(f"method '{method}' needs person boxes: pass --boxes FILE.csv (frame,x0,y0,x1,y1) or --whole-frame")

    net = getattr(m, "net", None)
    if net is not None:
        cfg = net.config
        work = resize_frames(frames, (cfg.height, cfg.width))
        clip_len, interval = cfg.frames, int(getattr(m, "frame_interval", 1) or 1)
    else:
        work, clip_len, interval = frames, 16, 1
    if masks is not None and net is not None:
        # Masks follow the frames to the network's resolution, once for the whole video.
        masks = resize_frames(masks[..., None].repeat(3, -1).astype(np.uint8) * 255, work.shape[1:3])[..., 0] > 127
    out = np.empty_like(work)
    windows = []
    for phase in range(min(interval, n)):
        idx = np.arange(phase, n, interval)
        starts = list(range(0, max(len(idx) - clip_len, 0) + 1, clip_len))
        if starts[-1] + clip_len < len(idx):
            starts.append(len(idx) - clip_len)
        windows += [idx[s : s + clip_len] for s in starts]
    with torch.no_grad():
        for i in tqdm(range(0, len(windows), batch), desc=f"anonymizing ({method})", unit="batch", disable=None if progress else True):
            group = windows[i : i + batch]
            # Windows in one batch must have one length: a video shorter than a clip gives one short window.
            for length in sorted({len(g) for g in group}):
                same = [g for g in group if len(g) == length]
                clips = torch.from_numpy(np.stack([work[g] for g in same]))
                mask_t = None
                if masks is not None:
                    mask_t = torch.from_numpy(np.stack([masks[g] for g in same]))
                result = m.transform(clips, mask_t).numpy()
                for g, r in zip(same, result):
                    out[g] = r
    if net is not None:
        out = resize_frames(out, (h, w))
    write_video(dst, out, fps=info.fps or 25.0)
    written = probe_video(dst)
    if written.num_frames != n:
        raise VPBenchError(f"{dst}: wrote {written.num_frames} frames, expected {n}")
    return {"frames": n, "fps": info.fps, "width": w, "height": h, "method": method,
            "working_size": list(work.shape[1:3]), "clip_len": clip_len, "frame_interval": interval}
