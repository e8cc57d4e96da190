"""STPrivacy transform throughput against keep ratio, beside the FLOP-predicted speedup.

Pruned tubelets are gathered out (not masked), so inference cost falls with the keep ratio.
For each keep ratio this measures clips/second of the network's inference forward pass (median
of --repeats timed runs, ratios interleaved so machine noise hits all alike) and prints the
measured speedup over keep 1.0 beside the speedup predicted by `count_flops`.

    .venv/bin/python bench/stprivacy_speed.py                   # cpu-profile network, random weights
    .venv/bin/python bench/stprivacy_speed.py --checkpoint results/known/synth-hmdb51/stprivacy/cpu-seed0.pt
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DIR, print_rows, row, write_rows  # noqa: E402

from vpbench.core.config import method_card, recognizer_profile
from vpbench.methods import create_method
from vpbench.networks.stprivacy import STPrivacyConfig, STPrivacyNet, count_flops

RATIOS = (1.0, 0.7, 0.49, 0.343)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "stprivacy_speed.json")
    ap.add_argument(
        "--rows",
        type=Path,
        default=BENCH_DIR / "stprivacy_speed.rows.json",
        help="results.json rows (bench/run_all.py)",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.checkpoint:
        method = create_method("stprivacy")
        method.load(args.checkpoint)
        net = method.net
    else:
        s = method_card("stprivacy")["profiles"][args.profile]
        rec = recognizer_profile(args.profile)
        net = STPrivacyNet(
            STPrivacyConfig(
                frames=rec["clip_len"],
                height=rec["frame_size"][0],
                width=rec["frame_size"][1],
                tubelet=tuple(s["tubelet"]),
                dim=s["dim"],
                heads=s["heads"],
                layers_per_psb=tuple(s["layers_per_psb"]),
                pab_layers=s["pab_layers"],
                stem=s.get("stem", "linear"),
                stem_channels=tuple(s.get("stem_channels", (32, 64))),
                alpha=s["alpha"],
            )
        )
    net.eval()
    cfg = net.config
    x = torch.randn(args.batch, 3, cfg.frames, cfg.height, cfg.width)
    times = {r: [] for r in RATIOS}
    with torch.no_grad():
        for r in RATIOS:  # warm-up
            net(x, keep_ratio=r)
        for _ in range(args.repeats):
            for r in RATIOS:
                t = time.perf_counter()
                net(x, keep_ratio=r)
                times[r].append(time.perf_counter() - t)
    base_t = statistics.median(times[1.0])
    base_f = count_flops(cfg, 1.0)
    rows = []
    for r in RATIOS:
        med = statistics.median(times[r])
        measured = base_t / med
        predicted = base_f / count_flops(cfg, r)
        rows.append(
            {
                "keep_ratio": r,
                "clips_per_s": args.batch / med,
                "median_s": med,
                "gmac_per_clip": count_flops(cfg, r) / 1e9,
                "measured_speedup": measured,
                "flop_speedup": predicted,
                "measured_over_predicted": measured / predicted,
            }
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "config": {k: str(v) for k, v in vars(cfg).items()},
                "batch": args.batch,
                "threads": torch.get_num_threads(),
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(
        f"STPrivacy inference, batch {args.batch}, {cfg.frames}x{cfg.height}x{cfg.width}, tubelet {cfg.tubelet}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"{'keep':>6} {'clips/s':>8} {'GMAC/clip':>10} {'measured':>9} {'FLOP-pred':>9} {'meas/pred':>9}")
    for r in rows:
        print(
            f"{r['keep_ratio']:>6} {r['clips_per_s']:>8.1f} {r['gmac_per_clip']:>10.3f} "
            f"{r['measured_speedup']:>8.2f}x {r['flop_speedup']:>8.2f}x {r['measured_over_predicted']:>9.2f}"
        )
    last = rows[-1]
    detail = {
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "tubelet": list(cfg.tubelet),
        "checkpoint": None if args.checkpoint is None else str(args.checkpoint),
        "rows": rows,
    }
    summary = [
        row("stprivacy_speedup_0.343", last["measured_speedup"], "ratio", "> 1 (pruned tokens are dropped)", detail),
        row(
            "stprivacy_speedup_vs_flops_0.343",
            last["measured_over_predicted"],
            "ratio",
            ">= 0.85",
            {
                "what": "measured speedup at keep 0.343 / the speedup count_flops predicts",
                "flop_speedup": last["flop_speedup"],
            },
        ),
    ]
    write_rows(args.rows, summary)
    print_rows(summary)


if __name__ == "__main__":
    main()
