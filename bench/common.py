"""What the bench scripts share: the data they measure on, timing, and the results.json rows.

Each script measures both sides of its comparison in the same run (so machine load hits both),
repeats it, and reports medians and their ratio. `bench/run_all.py` (`make bench`) collects the
rows of every script into `bench/results.json`: a list of {"name", "value", "unit", "goal", "detail"}.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent


def median_time(fn, repeats: int) -> tuple[float, list[float]]:
    """Median wall seconds of ``fn()`` over ``repeats`` calls (and every time)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


# Runs the command given as arguments and prints its exit code and peak RSS (KiB on Linux) as JSON:
# getrusage(RUSAGE_CHILDREN) in a wrapper process, so that nothing of the calling script counts.
_RSS_WRAPPER = r"""
import json, resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(json.dumps({"code": code, "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def peak_rss(cmd: list[str], script: str) -> dict:
    """Peak RSS (MiB; the largest single process of the command's tree) and wall seconds of ``cmd``;
    a failing command ends the bench ``script`` with one line."""
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _RSS_WRAPPER, *map(str, cmd)], check=True, capture_output=True, text=True
    )
    wall = time.perf_counter() - t
    result = json.loads(out.stdout)
    if result["code"] != 0:
        reason = (out.stderr.strip().splitlines() or [""])[-1]
        sys.exit(f"bench/{script}: `{' '.join(map(str, cmd[2:]))}` exited {result['code']}: {reason}")
    return {"peak_rss_mib": result["maxrss_kib"] / 1024, "wall_s": wall}


def synth_dataset(data_root: Path, name: str = "synth-hmdb51", size: str = "default") -> Path:
    """A built VP-Synth dataset under ``data_root`` (built once, reused by later runs)."""
    from vpbench.data.builder import build_dataset

    out = data_root / f"{name}-{size}"
    if not (out / "info.json").is_file():
        build_dataset(name, out, size=size, seed=0, progress=False)
    return out


def real_format_videos(
    folder: Path, count: int = 24, frames: int = 90, size: tuple[int, int] = (240, 320)
) -> list[Path]:
    """MPEG-4 Part 2 AVIs at HMDB51/UCF101's usual 320 x 240, 25 fps (moving texture and shapes), made once."""
    from vpbench.data.video import write_video

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"clip_{i:03d}.avi" for i in range(count)]
    rng = np.random.default_rng(0)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    for i, path in enumerate(paths):
        if path.is_file():
            continue
        texture = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)[:h, :w]
        video = np.empty((frames, h, w, 3), np.uint8)
        for t in range(frames):
            frame = np.roll(texture, (t * 2, t * 3), axis=(0, 1)).copy()
            cy, cx = h // 2 + int(60 * np.sin(t / 9 + i)), w // 2 + int(100 * np.cos(t / 11 + i))
            frame[(yy - cy) ** 2 + (xx - cx) ** 2 < 900] = (230, 180, 150)
            video[t] = frame
        write_video(path, video, fps=25.0)
    return paths


def row(name: str, value: float, unit: str, goal: str, detail: dict) -> dict:
    return {"name": name, "value": float(value), "unit": unit, "goal": goal, "detail": detail}


def write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2) + "\n")


def print_rows(rows: list[dict]) -> None:
    for r in rows:
        print(f"{r['name']:<36} {r['value']:>10.3f} {r['unit']:<10} goal {r['goal']}")
