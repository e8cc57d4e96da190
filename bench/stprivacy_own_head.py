"""How well does the STPrivacy network itself recognize actions? (A diagnostic for issue 4.)

Runs the network's own action head (the one phase 1 trains, L'_action) at inference on the train
and test split of a dataset, 3 evenly spaced clips per video with their softmax averaged, and
prints top-1 on each: the gap says how far the network's features generalize. Accepts a trained
method file (``<run>.pt`` beside a result) or a fit checkpoint (``<run>.work/fit.pt``, whatever
stage it holds; after phase 1 is the informative one, as phase 2 no longer trains that head).

    .venv/bin/python bench/stprivacy_own_head.py demo-out/results/known/synth-hmdb51/stprivacy/cpu-seed0.work/fit.pt \\
        --data-root demo-out/data --dataset synth-hmdb51
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from vpbench.core.checkpoint import load_torch
from vpbench.core.config import frame_interval, recognizer_profile
from vpbench.core.tensors import normalize
from vpbench.data.builder import load_manifest
from vpbench.data.frames.store import load_store
from vpbench.evaluation.runner import _split_indices
from vpbench.methods.stprivacy import BLACK, STPrivacy
from vpbench.networks.stprivacy import STPrivacyNet


def load_net(path: Path) -> STPrivacyNet:
    blob = load_torch(path, "STPrivacy checkpoint")
    if "states" in blob:  # a fit checkpoint: the network of the stage it stopped in
        state = {"config": json.loads(blob["settings"])["config"], "weights": blob["states"]["net"]}
    else:  # a trained method file
        state = blob["state"]
    method = STPrivacy()
    method.load_state_dict(state)  # the method's own checks and config conversion
    return method.net


@torch.no_grad()
def own_head_top1(net: STPrivacyNet, store, labels: np.ndarray, clips: int = 3) -> float:
    frames = net.config.frames
    hits = 0
    for i in range(len(store)):
        v = store.video(i)
        starts = np.linspace(0, max(len(v) - frames, 0), clips).round().astype(int)
        batch = torch.stack([torch.from_numpy(v[np.minimum(np.arange(s, s + frames), len(v) - 1)]) for s in starts])
        logits = net(normalize(batch.permute(0, 4, 1, 2, 3)), black_value=BLACK).action_logits
        hits += int(logits.softmax(1).mean(0).argmax()) == int(labels[i])
    return hits / max(len(store), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--data-root", type=Path, default=Path("demo-out/data"))
    ap.add_argument("--dataset", default="synth-hmdb51")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--fold", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    net = load_net(args.checkpoint)
    profile = recognizer_profile(args.profile)
    data_dir = args.data_root / args.dataset
    manifest = load_manifest(data_dir)
    for split, idx in zip(("train", "test"), _split_indices(manifest, args.fold)):
        rows = manifest.iloc[idx].reset_index(drop=True)
        store = load_store(
            data_dir, rows, tuple(profile["frame_size"]), frame_interval(profile, args.dataset), progress=False
        )
        print(
            f"{split:5s} own-head top-1 {own_head_top1(net, store, rows['action_index'].to_numpy()):.3f} ({len(rows)} "
            f"videos)"
        )


if __name__ == "__main__":
    main()
