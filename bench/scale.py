"""Evaluation memory at scale: peak RSS of `vpbench evaluate --method raw --protocol known` on N and 4N videos.

The videos are HMDB51-like: 320x240 MPEG-4 Part 2 AVIs of 100 frames at 25 fps (moving texture and a
disc; `common.real_format_videos`), made here once. The 4N dataset lists each of the N files four
times under other names (hard links), so it decodes, caches and trains on 4N videos. Both are built
with `vpbench build --dataset manifest`, and evaluated from a fresh clip cache (built by the evaluation
itself) at 128x160, every frame, with the cpu profile's recognizers for one epoch and 2 test clips x 1
crop (compute is not what is measured). Each evaluation runs as its own process; its peak RSS is the
largest single process of its tree (getrusage of the children: the cache's decoding workers each
count on their own, not summed).

Rows: the ratio 4N/N of the peaks (goal <= 1.25: memory does not grow with the dataset), each peak,
and, from the measured per-frame cost, the projected per-process RAM and the disk that the paper
profile needs for VP-HMDB51 and VP-UCF101 (clip cache, plus the transformed copy a non-identity
method writes into its run's work folder). The frame counts of the two datasets are estimates
(see FRAMES_PER_VIDEO); pass a built dataset with --dataset-dir for its exact count.

    .venv/bin/python bench/scale.py [--videos 200] [--work bench/.work]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DIR, peak_rss, print_rows, real_format_videos, row, write_rows  # noqa: E402

from vpbench.core.attributes import ATTRIBUTES  # noqa: E402

FRAMES = 100  # per video
SIZE = (128, 160)  # frames kept: the paper profile's frame size
# Estimated frames per video of the real datasets. UCF101: 13,320 clips, 27 hours at 25 fps
# (Soomro et al., 2012) -> about 182. HMDB51: 6,766 clips; about 97 (3.2 s at 30 fps) is an estimate
# that `vpbench info` of a built VP-HMDB51 replaces (--dataset-dir).
DATASETS = {"vp-hmdb51": (6766, 97, 2), "vp-ucf101": (13320, 182, 4)}  # videos, frames per video, paper interval
ACTIONS = 10


def make_datasets(work: Path, n: int) -> dict[int, Path]:
    """Datasets of n and 4n videos built from n distinct AVIs; made once, reused."""
    raw = work / "raw"
    videos = real_format_videos(raw / "distinct", count=n, frames=FRAMES)
    out = {}
    for count in (n, 4 * n):
        folder = raw / f"x{count}"
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for k in range(count):
            src = videos[k % n]
            name = folder / f"v{k:05d}.avi"
            if not name.exists():
                os.link(src, name)
            rows.append(
                {
                    "path": str(name.relative_to(work)),
                    "action": f"a{k % ACTIONS}",
                    "split": "test" if k % 10 < 3 else "train",
                    **{a: (k >> j) % 2 for j, a in enumerate(ATTRIBUTES)},
                }
            )
        dataset = work / f"scale-{count}"
        if not (dataset / "info.json").is_file():
            manifest = work / f"manifest-{count}.csv"
            pd.DataFrame(rows).to_csv(manifest, index=False)
            build = [
                sys.executable,
                "-m",
                "vpbench",
                "build",
                "--dataset",
                "manifest",
                "--manifest",
                manifest,
                "--out",
                dataset,
            ]
            peak_rss(build, "scale.py")
        out[count] = dataset
    return out


def write_settings(work: Path, names: list[str]) -> tuple[Path, Path]:
    """A models folder whose profile `scale` is the cpu profile at 128x160, every frame, one epoch; and a
    protocols folder whose `known` evaluates on the scale datasets."""
    from vpbench.core.config import _dir, recognizer_profile

    models, protocols = work / "models", work / "protocols"
    (models / "methods").mkdir(parents=True, exist_ok=True)
    for card in Path(_dir("models", None), "methods").glob("*.yaml"):
        (models / "methods" / card.name).write_text(card.read_text())
    cpu = recognizer_profile("cpu")
    scale = {**cpu, "frame_size": list(SIZE), "frame_interval": {"default": 1}, "train": {**cpu["train"], "epochs": 1}}
    (models / "recognizers.yaml").write_text(
        yaml.safe_dump({"name": "recognizers", "version": 1, "profiles": {"scale": scale}})
    )
    protocols.mkdir(parents=True, exist_ok=True)
    known = yaml.safe_load((Path(_dir("protocols", None)) / "known.yaml").read_text())
    known["suites"] = {"synth": [{"method_train": name, "evaluate": name} for name in names]}
    known["test_views"] = {"clips": 2, "crops": 1}
    known["bootstrap"]["samples"] = 100
    (protocols / "known.yaml").write_text(yaml.safe_dump(known))
    return models, protocols


def dataset_frames(path: Path) -> tuple[int, float]:
    from vpbench.data.builder import load_manifest

    m = load_manifest(path)
    return len(m), float(m["num_frames"].mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=200, help="N: videos of the small dataset (the large one has 4N)")
    ap.add_argument("--work", type=Path, default=BENCH_DIR / ".work")
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "scale.json")
    ap.add_argument(
        "--dataset-dir",
        type=Path,
        action="append",
        default=[],
        help="a built vp-hmdb51 or vp-ucf101: project from its exact frame count (repeatable)",
    )
    args = ap.parse_args()
    work = (args.work / "scale").resolve()
    work.mkdir(parents=True, exist_ok=True)
    datasets = make_datasets(work, args.videos)
    models, protocols = write_settings(work, [p.name for p in datasets.values()])
    runs = {}
    for count, dataset in datasets.items():
        for stale in (dataset / "cache", work / "results"):  # the evaluation builds its cache itself, every time
            if stale.exists():
                import shutil

                shutil.rmtree(stale)
        cmd = [
            sys.executable,
            "-m",
            "vpbench",
            "evaluate",
            "--method",
            "raw",
            "--protocol",
            "known",
            "--dataset",
            dataset.name,
            "--data-root",
            work,
            "--profile",
            "scale",
            "--models-dir",
            models,
            "--protocols-dir",
            protocols,
            "--out",
            work / "results",
            "--device",
            "cpu",
        ]
        runs[count] = {**peak_rss(cmd, "scale.py"), "videos": count, "frames": count * FRAMES}
        print(
            f"{count:>5} videos ({count * FRAMES} frames at {SIZE[0]}x{SIZE[1]}): peak RSS "
            f"{runs[count]['peak_rss_mib']:.0f} MiB, "
            f"{runs[count]['wall_s']:.0f} s",
            flush=True,
        )
    small, large = runs[args.videos], runs[4 * args.videos]
    ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
    per_frame_mib = max(large["peak_rss_mib"] - small["peak_rss_mib"], 0.0) / (large["frames"] - small["frames"])
    frame_bytes = SIZE[0] * SIZE[1] * 3
    counts = {name: (videos, float(per_video)) for name, (videos, per_video, _) in DATASETS.items()}
    for path in args.dataset_dir:
        from vpbench.data.builder import load_info

        counts[load_info(path)["name"]] = dataset_frames(path)
    projections = {}
    for name, (videos, per_video, interval) in DATASETS.items():
        videos, per_video = counts[name]
        frames = videos * per_video / interval
        cache_gib = frames * frame_bytes / 2**30
        projections[name] = {
            "videos": videos,
            "frames_per_video": per_video,
            "interval": interval,
            "sampled_frames": round(frames),
            "ram_per_process_gib": round(
                (small["peak_rss_mib"] + per_frame_mib * max(frames - small["frames"], 0)) / 1024, 2
            ),
            "clip_cache_gib": round(cache_gib, 1),
            "disk_gib_with_transformed_copy": round(2 * cache_gib, 1),
        }
        p = projections[name]
        print(
            f"{name}: {p['sampled_frames']} frames at the paper profile -> about {p['ram_per_process_gib']} GiB RAM "
            f"per process "
            f"(plus page cache, shared), clip cache {p['clip_cache_gib']} GiB, up to "
            f"{p['disk_gib_with_transformed_copy']} GiB of disk "
            f"with a method's transformed copy",
            flush=True,
        )
    print(f"ratio 4N/N: {ratio:.3f}")
    detail = {
        "what": "peak RSS of `vpbench evaluate --method raw --protocol known` (cpu recognizers, 1 epoch) on N and 4N "
        f"320x240 AVIs of {FRAMES} frames, frames kept at {SIZE[0]}x{SIZE[1]}, every frame; "
        "clip cache built by the run",
        "runs": list(runs.values()),
        "per_frame_mib": per_frame_mib,
        "projections_paper_profile": projections,
    }
    rows = [
        row("evaluate_peak_rss_ratio_4n_n", ratio, "ratio", "<= 1.25", detail),
        row("evaluate_peak_rss_4n", large["peak_rss_mib"], "MiB", "bounded", detail),
    ]
    write_rows(args.out, rows)
    print_rows(rows)


if __name__ == "__main__":
    main()
