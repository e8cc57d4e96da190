"""Clip cache: reading an evaluation's frames from the cache against decoding them, same run.

Both sides give the same frames (tested in tests/data/frames/test_cache.py): a `load_store` over the dataset's
clip cache, every video then read from the file, and `load_store(use_cache=False)` (decode every
video with one process per core). Medians over --repeats interleaved runs; the row is their ratio.

    .venv/bin/python bench/cache.py [--repeats 5] [--work bench/.work]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DIR, median_time, print_rows, row, synth_dataset, write_rows  # noqa: E402

from vpbench.data.builder import load_manifest  # noqa: E402
from vpbench.data.frames.cache import build_cache  # noqa: E402
from vpbench.data.frames.store import load_store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--work", type=Path, default=BENCH_DIR / ".work")
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "cache.json")
    args = ap.parse_args()
    data = synth_dataset(args.work)
    size, interval = (64, 80), 2
    build_cache(data, size, interval, progress=False)
    manifest = load_manifest(data)
    # What an evaluation reads: the fold's train and test videos (not the unused ones).
    rows_used = manifest[manifest["split_1"] != "unused"]
    workers = os.cpu_count() or 1
    cached, decoded = [], []

    def read_from_cache() -> None:
        store = load_store(data, rows_used, size, interval, progress=False)
        for i in range(len(store)):
            store.video(i)

    for _ in range(args.repeats):
        cached.append(median_time(read_from_cache, 1)[0])
        decoded.append(
            median_time(
                lambda: load_store(data, rows_used, size, interval, progress=False, use_cache=False, workers=workers), 1
            )[0]
        )
    c, d = statistics.median(cached), statistics.median(decoded)
    n = len(rows_used)
    rows = [
        row(
            "cache_vs_decode",
            d / c,
            "ratio",
            ">= 10",
            {
                "what": "videos/s loading from the clip cache / videos/s decoding, synth-hmdb51 default, 64x80 every "
                "2nd frame",
                "videos": n,
                "cache_videos_per_s": n / c,
                "decode_videos_per_s": n / d,
                "cache_s": cached,
                "decode_s": decoded,
            },
        )
    ]
    print(f"{n} videos: cache {n / c:.0f}/s, decode {n / d:.1f}/s")
    write_rows(args.out, rows)
    print_rows(rows)


if __name__ == "__main__":
    main()
