"""`make bench`: every bench script in turn, then their rows together in bench/results.json.

    .venv/bin/python bench/run_all.py [--quick]    # --quick: fewer repeats, evaluate only raw

Rows: {"name", "value", "unit", "goal", "detail"}. The scripts print their own tables as they go.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DIR, print_rows, write_rows  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--methods", nargs="+", help="methods for bench/evaluate.py")
    args = ap.parse_args()
    repeats = ["--repeats", "3" if args.quick else "5"]
    methods = args.methods or (["raw"] if args.quick else None)
    scripts = [
        (["decode.py", *repeats], BENCH_DIR / "decode.json"),
        (["cache.py", *repeats], BENCH_DIR / "cache.json"),
        (["stprivacy_speed.py", "--repeats", "7" if args.quick else "15"], BENCH_DIR / "stprivacy_speed.rows.json"),
        (["anonymize_memory.py", "--frames", "30" if args.quick else "60"], BENCH_DIR / "anonymize_memory.json"),
        (["scale.py", "--videos", "50" if args.quick else "200"], BENCH_DIR / "scale.json"),
        (["evaluate.py", *(["--methods", *methods] if methods else [])], BENCH_DIR / "evaluate.json"),
    ]
    rows = []
    for script, produced in scripts:
        print(f"== bench/{script[0]}", flush=True)
        done = subprocess.run([sys.executable, str(BENCH_DIR / script[0]), *script[1:]])
        if done.returncode != 0:
            # The script printed its own reason above; one line here, not a CalledProcessError traceback.
            sys.exit(f"bench/{script[0]} failed (exit {done.returncode}); the benches before it wrote their rows")
        rows.extend(json.loads(produced.read_text()))
    write_rows(BENCH_DIR / "results.json", rows)
    print(f"== {BENCH_DIR / 'results.json'}")
    print_rows(rows)


if __name__ == "__main__":
    main()
