"""Can the `cpu` recognizers see what VP-Synth holds? (Issue 3's data/recognizer check.)

Trains the cpu-profile action and privacy recognizers on raw synth videos (known protocol,
split 1) exactly as `vpbench evaluate` does, then reports: action top-1, top-1 on a copy of
the test set whose frames are shuffled within each video (temporal order destroyed), and
privacy cMAP / F1 with per-attribute AP. Prints a table and writes JSON.

    .venv/bin/python bench/synth_sanity.py --data-root demo-out/data --out bench/synth_sanity.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from vpbench.core.attributes import ATTRIBUTES
from vpbench.core.config import frame_interval, recognizer_profile
from vpbench.data.builder import load_manifest
from vpbench.data.frames.store import FrameStore, load_store
from vpbench.evaluation.engine import TrainConfig, predict_videos, train_video_recognizer
from vpbench.evaluation.metrics import action_top1, privacy_scores
from vpbench.evaluation.runner import ensure_dataset
from vpbench.networks.recognizers import create_recognizer


def shuffled_copy(store, videos, seed: int):
    """An in-memory copy of the store whose ``videos`` have their frames in random order."""
    rng = np.random.default_rng(seed)
    parts = [store.video(i) for i in range(len(store))]
    for v in videos:
        parts[v] = parts[v][rng.permutation(len(parts[v]))]
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])])
    return FrameStore.from_offsets(np.concatenate(parts), offsets, store.video_ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=Path("demo-out/data"))
    ap.add_argument("--datasets", nargs="+", default=["synth-hmdb51", "synth-ucf101"])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench/synth_sanity.json"))
    args = ap.parse_args()
    profile = recognizer_profile(args.profile)
    clip_len, crop = profile["clip_len"], profile["crop"]
    cfg = TrainConfig.from_dict({**profile["train"], "clip_len": clip_len, "crop": crop})
    rows = []
    for name in args.datasets:
        path = ensure_dataset(name, args.data_root, "synth")
        m = load_manifest(path)
        t0 = time.perf_counter()
        store = load_store(path, m, tuple(profile["frame_size"]), frame_interval(profile, name), progress=False)
        tr, te = np.where(m["split_1"] == "train")[0], np.where(m["split_1"] == "test")[0]
        actions = m["action_index"].to_numpy()
        privacy = m[list(ATTRIBUTES)].to_numpy(np.float32)
        torch.manual_seed(args.seed + 1)
        amodel = create_recognizer(profile["action"], int(actions.max()) + 1, clip_len, crop)
        train_video_recognizer(amodel, store, tr, actions[tr], "action", cfg, args.seed + 1, progress=False)
        top1 = action_top1(predict_videos(amodel, store, te, "action", clip_len, crop, progress=False), actions[te])
        shuffled = shuffled_copy(store, te, args.seed)
        top1_shuffled = action_top1(
            predict_videos(amodel, shuffled, te, "action", clip_len, crop, progress=False), actions[te]
        )
        torch.manual_seed(args.seed + 2)
        pmodel = create_recognizer(profile["privacy"], len(ATTRIBUTES), clip_len, crop)
        train_video_recognizer(pmodel, store, tr, privacy[tr], "privacy", cfg, args.seed + 2, progress=False)
        p = privacy_scores(
            predict_videos(pmodel, store, te, "privacy", clip_len, crop, progress=False),
            privacy[te].astype(int),
            ATTRIBUTES,
        )
        rows.append(
            {
                "dataset": name,
                "top1": top1,
                "top1_frames_shuffled": top1_shuffled,
                "shuffle_drop": top1 - top1_shuffled,
                "cmap": p["cmap"],
                "f1": p["f1"],
                "ap": {a: v["ap"] for a, v in p["per_attribute"].items()},
                "wall_s": round(time.perf_counter() - t0, 1),
                "threads": torch.get_num_threads(),
            }
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"{'dataset':<14} {'top1':>6} {'shuffled':>8} {'drop':>6} {'cMAP':>6} {'F1':>6}  AP per attribute")
    for r in rows:
        aps = " ".join(f"{a}={v:.1f}" for a, v in r["ap"].items())
        print(
            f"{r['dataset']:<14} {r['top1']:>6.3f} {r['top1_frames_shuffled']:>8.3f} {r['shuffle_drop']:>6.3f} "
            f"{r['cmap']:>6.2f} {r['f1']:>6.3f}  {aps}  ({r['wall_s']} s)"
        )


if __name__ == "__main__":
    main()
