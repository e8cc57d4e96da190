"""Decoding: vpbench's loader against `ffmpeg -benchmark` on the same files, in the same run.

The loader side is what `vpbench evaluate` does when there is no clip cache: `load_store` decodes
every video (decord, PyAV fallback) in one process per core and resizes its frames to the profile's
size. The ffmpeg side decodes the same files to the null muxer, one single-threaded ffmpeg process
per core at a time: the practical limit of this CPU for these files. Each side runs --repeats
times, interleaved; the row is the ratio of median throughputs (videos per second; one video
gives the clips of a whole epoch). Two file sets: VP-Synth default (64 x 80) and a set of
real-format MPEG-4 AVIs at 320 x 240, 25 fps, 90 frames (HMDB51/UCF101's format).

    .venv/bin/python bench/decode.py [--repeats 5] [--work bench/.work]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DIR, median_time, print_rows, real_format_videos, row, synth_dataset, write_rows  # noqa: E402

from vpbench.data.builder import load_manifest  # noqa: E402
from vpbench.data.frames.store import load_store  # noqa: E402
from vpbench.data.video import probe_video  # noqa: E402


def ffmpeg_all(paths: list[Path], workers: int) -> None:
    def one(p: Path) -> None:
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-benchmark", "-threads", "1", "-i", str(p), "-f", "null", "-"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, paths))


def measure(label: str, root: Path, manifest: pd.DataFrame, size, interval: int, repeats: int, workers: int) -> dict:
    paths = [root / p for p in manifest["path"]]
    ffmpeg_all(paths, workers)  # warm the page cache and both code paths
    load_store(root, manifest, size, interval, progress=False, use_cache=False, workers=workers)
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(
            median_time(
                lambda: load_store(root, manifest, size, interval, progress=False, use_cache=False, workers=workers), 1
            )[0]
        )
        theirs.append(median_time(lambda: ffmpeg_all(paths, workers), 1)[0])
    n = len(paths)
    ours_m, theirs_m = sorted(ours)[len(ours) // 2], sorted(theirs)[len(theirs) // 2]
    return {
        "set": label,
        "videos": n,
        "frames": int(manifest["num_frames"].sum()),
        "workers": workers,
        "loader_videos_per_s": n / ours_m,
        "ffmpeg_videos_per_s": n / theirs_m,
        "ratio": theirs_m / ours_m,
        "loader_s": ours,
        "ffmpeg_s": theirs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--work", type=Path, default=BENCH_DIR / ".work")
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "decode.json")
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("bench/decode.py: needs ffmpeg on PATH (tools/install-ffmpeg.sh)")
    workers = os.cpu_count() or 1
    synth = synth_dataset(args.work)
    sets = [measure("vp-synth-default", synth, load_manifest(synth), (64, 80), 2, args.repeats, workers)]
    real = real_format_videos(args.work / "real-format")
    table = pd.DataFrame(
        {
            "path": [p.name for p in real],
            "num_frames": [probe_video(p).num_frames for p in real],
            "video_id": [p.stem for p in real],
        }
    )
    sets.append(measure("mpeg4-avi-320x240", real[0].parent, table, (128, 160), 1, args.repeats, workers))
    worst = min(sets, key=lambda s: s["ratio"])
    rows = [
        row(
            "decode_vs_ffmpeg",
            worst["ratio"],
            "ratio",
            ">= 0.8",
            {
                "what": "loader throughput / ffmpeg throughput on the same files (the lower of the two sets)",
                "sets": sets,
            },
        )
    ]
    for s in sets:
        print(
            f"{s['set']}: {s['videos']} videos, loader {s['loader_videos_per_s']:.1f}/s, ffmpeg "
            f"{s['ffmpeg_videos_per_s']:.1f}/s, ratio {s['ratio']:.2f}"
        )
    write_rows(args.out, rows)
    print_rows(rows)


if __name__ == "__main__":
    main()
