"""Wall time and peak memory of one `known` evaluation per method on VP-Synth default (cpu profile).

Each evaluation runs as its own `vpbench evaluate` process (fresh interpreter, nothing cached
between methods) on synth-hmdb51 default; peak memory is that process tree's maximum resident
set size (getrusage of the children). `evaluate_peak_rss_gib` is the largest over the methods.

    .venv/bin/python bench/evaluate.py [--methods raw blackening stprivacy] [--work bench/.work]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DIR, print_rows, row, synth_dataset, write_rows  # noqa: E402

DEFAULT_METHODS = ("raw", "downsample-4x", "blackening", "stprivacy")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    ap.add_argument("--dataset", default="synth-hmdb51")
    ap.add_argument("--work", type=Path, default=BENCH_DIR / ".work")
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "evaluate.json")
    args = ap.parse_args()
    data = synth_dataset(args.work, args.dataset)
    root = args.work / "eval-data"
    root.mkdir(parents=True, exist_ok=True)
    link = root / args.dataset
    if not link.exists():
        link.symlink_to(data.resolve())
    runs = []
    for method in args.methods:
        out = args.work / "eval-results" / method
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "vpbench",
                "evaluate",
                "--method",
                method,
                "--protocol",
                "known",
                "--dataset",
                args.dataset,
                "--data-root",
                str(root),
                "--out",
                str(out),
                "--profile",
                "cpu",
            ],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            sys.exit(f"bench/evaluate.py: {method} failed: {proc.stderr.strip().splitlines()[-1:]}")
        # ru_maxrss of children is the largest child so far (KiB on Linux): a new maximum is this run's.
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        result = json.loads(next(out.rglob("*.json")).read_text())
        runs.append(
            {
                "method": method,
                "wall_s": wall,
                "peak_rss_gib": peak / 2**20 if peak > before else None,
                "phases_s": result["wall_time_s"],
                "top1": result["scores"]["action_top1"]["value"],
                "cmap": result["scores"]["privacy_cmap"]["value"],
            }
        )
        print(f"{method:<14} {wall:7.1f} s  peak RSS so far {peak / 2**20:.2f} GiB", flush=True)
    peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 0.0)
    rows = [
        row(
            "evaluate_peak_rss_gib",
            peak,
            "GiB",
            "< 4",
            {"what": f"largest peak RSS of one `known` run on {args.dataset} default, cpu profile", "runs": runs},
        )
    ]
    for r in runs:
        rows.append(row(f"evaluate_wall_s_{r['method']}", r["wall_s"], "s", "", {"phases_s": r["phases_s"]}))
    write_rows(args.out, rows)
    print_rows(rows)


if __name__ == "__main__":
    main()
