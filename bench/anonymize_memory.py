"""Anonymize memory: peak RSS of `vpbench anonymize` on a 1280x720 video of N and of 4N frames.

`vpbench anonymize --whole-frame --method strongblur` runs as its own process on each video (made
here: noise and moving shapes, MPEG-4 Part 2, 25 fps); its peak resident set size comes from
getrusage(RUSAGE_CHILDREN) in a small wrapper process, so that nothing of this script counts. The
row is the ratio of the two peaks: anonymize streams, so a video four times as long must not need
more memory (goal <= 1.3), and the HD peak itself must stay under 2 GiB.

    .venv/bin/python bench/anonymize_memory.py [--frames 60] [--work bench/.work]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DIR, peak_rss, print_rows, row, write_rows  # noqa: E402

from vpbench.data.video import write_video_windows  # noqa: E402

HEIGHT, WIDTH = 720, 1280
COMMAND = ["anonymize", "--whole-frame", "--method", "strongblur"]


def hd_windows(frames: int, window: int = 16, seed: int = 0):
    """Noise and moving discs, a window at a time (this script's own memory stays small too)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    for start in range(0, frames, window):
        chunk = rng.integers(0, 256, (min(window, frames - start), HEIGHT, WIDTH, 3), dtype=np.uint8)
        for k, t in enumerate(range(start, start + len(chunk))):
            for i, colour in enumerate(((230, 180, 150), (40, 90, 200))):
                cy, cx = HEIGHT // 2 + int(200 * np.sin(t / 9 + i)), WIDTH // 2 + int(400 * np.cos(t / 11 + i))
                chunk[k][(yy - cy) ** 2 + (xx - cx) ** 2 < 120**2] = colour
        yield chunk


def make_video(path: Path, frames: int) -> Path:
    if not path.is_file():
        write_video_windows(path, hd_windows(frames), fps=25.0, expect_frames=frames)
    return path


def anonymize_peak(src: Path, dst: Path) -> dict:
    """Peak RSS (MiB) and wall time of one `vpbench anonymize` process."""
    cmd = [sys.executable, "-m", "vpbench", *COMMAND, str(src), str(dst)]
    return {**peak_rss(cmd, "anonymize_memory.py"), "command": " ".join(["vpbench", *COMMAND, src.name, dst.name])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=60, help="N: the short video's frame count (the long one has 4N)")
    ap.add_argument("--work", type=Path, default=BENCH_DIR / ".work")
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "anonymize_memory.json")
    args = ap.parse_args()
    folder = args.work / "anonymize-memory"
    folder.mkdir(parents=True, exist_ok=True)
    runs = []
    for frames in (args.frames, 4 * args.frames):
        src = make_video(folder / f"hd_{frames}.mp4", frames)
        runs.append({**anonymize_peak(src, folder / f"out_{frames}.mp4"), "frames": frames})
        print(
            f"{frames:>4} frames {WIDTH}x{HEIGHT}: peak RSS {runs[-1]['peak_rss_mib']:.0f} MiB, "
            f"{runs[-1]['wall_s']:.1f} s",
            flush=True,
        )
    short, long = runs
    ratio = long["peak_rss_mib"] / short["peak_rss_mib"]
    print(f"ratio 4N/N: {ratio:.3f}")
    detail = {
        "what": f"peak RSS of `vpbench {' '.join(COMMAND)}` on {WIDTH}x{HEIGHT} videos of N and 4N frames",
        "runs": runs,
    }
    rows = [
        row("anonymize_peak_rss_ratio_4n_n", ratio, "ratio", "<= 1.3", detail),
        row("anonymize_peak_rss_4n", long["peak_rss_mib"], "MiB", "< 2048", detail),
    ]
    write_rows(args.out, rows)
    print_rows(rows)


if __name__ == "__main__":
    main()
