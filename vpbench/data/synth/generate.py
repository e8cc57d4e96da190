"""VP-Synth generation: raw videos, split files, boxes, visibility and simulated annotators.

Everything is written inside the dataset folder in the layouts of the real
benchmarks, so that ``vpbench build`` then reads it through exactly the code
path of VP-HMDB51 / VP-UCF101:

- ``raw/``: MPEG-4 AVI files, HMDB51 layout (``<action>/<name>.avi``) or
  UCF101 layout (``<Class>/v_<Class>_gXX_cYY.avi``);
- ``splits/``: HMDB51 ``<action>_test_split<k>.txt`` files or a UCF101
  ``ucfTrainTestlist`` folder (CRLF);
- ``annotations/labelstudio-export.json``: three simulated annotators in
  Label Studio's JSON export format, field for field what a Label Studio
  1.23 server exports (compare annotation/example-export.json, recorded from
  one);
- ``annotations/frames/<action>.json``: per-frame attribute visibility in
  PA-HMDB51's format; ``annotations/boxes.csv``: per-frame person boxes;
- ``annotations/ground_truth.csv``: the labels the videos were drawn from
  (synthetic only: real benchmarks have no ground truth beyond the votes).
"""

from __future__ import annotations

import csv
import io
import multiprocessing as mp
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from ...core.atomic import atomic_write_json, atomic_write_text
from ...core.attributes import ATTRIBUTES
from ...core.errors import VPBenchError
from ..video import write_video
from . import render

GENERATOR_VERSION = 1
FPS = 25.0

SIZES = {
    # tiny: tests; default: the demo and the benchmarks.
    "tiny": {"videos_per_class": 6, "num_frames": 20, "ucf_groups": 3, "hmdb_actions": "tiny"},
    "default": {"videos_per_class": 40, "num_frames": 40, "ucf_groups": 10, "hmdb_actions": "all"},
}

# Simulated annotators: each misses a visible attribute (false negative) or
# reports an absent one (false positive) at its own rate. Misses grow when the
# cue is on screen for a small share of the video, as for human annotators.
ANNOTATORS = (
    {"id": 1, "email": "careful@vp-synth.local", "fn": 0.03, "fp": 0.02},
    {"id": 2, "email": "cautious@vp-synth.local", "fn": 0.05, "fp": 0.12},  # says "yes" when unsure
    {"id": 3, "email": "hasty@vp-synth.local", "fn": 0.15, "fp": 0.03},  # overlooks brief cues
)
MISS_PER_HIDDEN_SHARE = 0.2  # extra miss probability per unit of the video where the cue is hidden
CANCEL_RATE = 0.03  # annotator 3 skips (cancels) this share of tasks
REDO_RATE = 0.03  # annotator 2 revises this share of tasks (an older, different answer stays in the export)


@dataclass(frozen=True)
class SynthOutput:
    raw: Path
    splits: Path
    export: Path
    frames: Path
    boxes: Path
    info: dict


@dataclass(frozen=True)
class _Item:
    video_id: str  # "<action>/<stem>"
    action: str
    seed: int
    style_seed: int | None
    attributes: dict


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def _plan(kind: str, size: str, seed: int) -> tuple[list[_Item], dict, dict]:
    """Videos to generate, split assignment (video_id -> [fold values]) and settings."""
    if size not in SIZES:
        raise VPBenchError(f"unknown VP-Synth size '{size}'; choose tiny or default")
    cfg = SIZES[size]
    n = cfg["videos_per_class"]
    items: list[_Item] = []
    splits: dict[str, list[str]] = {}
    if kind == "synth-hmdb51":
        actions = render.TINY_ACTIONS_HMDB if cfg["hmdb_actions"] == "tiny" else render.ACTIONS_HMDB
        for a_idx, action in enumerate(actions):
            for i in range(n):
                s = _seed(seed, 1, a_idx, i)
                attrs = render.sample_attributes(np.random.default_rng(_seed(s, 7)))
                items.append(_Item(f"{action}/vpsynth_{action}_{i:03d}", action, s, None, attrs))
            # HMDB51 style: per class and fold, 70% train / 30% test, a few unused.
            for fold in (1, 2, 3):
                order = np.random.default_rng(_seed(seed, 2, a_idx, fold)).permutation(n)
                n_test = int(round(0.3 * n))
                n_unused = n // 20
                for rank, i in enumerate(order):
                    value = "test" if rank < n_test else "unused" if rank < n_test + n_unused else "train"
                    splits.setdefault(f"{action}/vpsynth_{action}_{i:03d}", []).append(value)
    elif kind == "synth-ucf101":
        actions = render.TINY_ACTIONS_UCF if cfg["hmdb_actions"] == "tiny" else render.ACTIONS_UCF
        groups = cfg["ucf_groups"]
        clips = n // groups
        # UCF101 style: a group shares actor and scene; a fold tests whole groups. A group's actor
        # and scene are the same for every action, so the scene says nothing about the action
        # and a test fold shows actors and scenes never seen in training.
        test_groups = (
            {1: {1}, 2: {2}, 3: {3}} if groups == 3 else {k: set(range(3 * k - 2, 3 * k + 1)) for k in (1, 2, 3)}
        )
        for a_idx, action in enumerate(actions):
            for g in range(1, groups + 1):
                style = _seed(seed, 3, g)
                for c in range(1, clips + 1):
                    s = _seed(seed, 4, a_idx, g, c)
                    attrs = render.sample_attributes(np.random.default_rng(_seed(s, 7)))
                    vid = f"{action}/v_{action}_g{g:02d}_c{c:02d}"
                    items.append(_Item(vid, action, s, style, attrs))
                    splits[vid] = ["test" if g in test_groups[k] else "train" for k in (1, 2, 3)]
    else:
        raise VPBenchError(f"'{kind}' is not a VP-Synth dataset")
    settings = {
        "num_frames": cfg["num_frames"],
        "height": 64,
        "width": 80,
        "videos_per_class": n,
        "actions": list(actions),
    }
    return items, splits, settings


def _render_and_write(args: tuple[_Item, dict, str]) -> tuple[str, dict]:
    item, settings, raw_dir = args
    spec = render.VideoSpec(
        action=item.action,
        attributes=dict(item.attributes),
        num_frames=settings["num_frames"],
        height=settings["height"],
        width=settings["width"],
        seed=item.seed,
        style_seed=item.style_seed,
    )
    video = render.render_video(spec)
    write_video(Path(raw_dir) / f"{item.video_id}.avi", video.frames, fps=FPS)
    return item.video_id, {
        "boxes": tracker_boxes(video.boxes, settings["width"], settings["height"]),
        "visibility": {a: np.asarray(v, dtype=bool).tolist() for a, v in video.visibility.items()},
    }


BOX_MARGIN = (0.10, 0.05)  # extra width, height on each side, as a share of the person's largest extent
TRACK_HALF_WINDOW = 7  # the tracker averages a person's position over 15 frames (0.6 s)


def tracker_boxes(
    tight: list[list[tuple[int, int, int, int]]], width: int, height: int
) -> list[list[tuple[int, int, int, int]]]:
    """Person boxes as a smoothing tracker reports them: one box size per person for the whole video,
    centred on the person's position averaged over a window of frames.

    Tight per-frame boxes trace the silhouette: blackening them left VP-Synth's actions fully
    readable from the box outline alone (top-1 1.000), and boxes of one size centred on each
    frame's tight box still moved with every limb (0.958); a detector's box around a real person
    carries far less of the action.
    """
    people = max((len(b) for b in tight), default=0)
    out: list[list[tuple[int, int, int, int]]] = [[] for _ in tight]
    for p in range(people):
        present = [b[p] for b in tight if len(b) > p]
        bw = max(x1 - x0 for x0, _, x1, _ in present) * (1 + 2 * BOX_MARGIN[0])
        bh = max(y1 - y0 for _, y0, _, y1 in present) * (1 + 2 * BOX_MARGIN[1])
        frames = [t for t, b in enumerate(tight) if len(b) > p]
        centres = np.array([((b[p][0] + b[p][2]) / 2, (b[p][1] + b[p][3]) / 2) for b in tight if len(b) > p])
        for k, t in enumerate(frames):
            lo, hi = max(0, k - TRACK_HALF_WINDOW), min(len(frames), k + TRACK_HALF_WINDOW + 1)
            cx, cy = centres[lo:hi].mean(0)
            out[t].append(
                (
                    max(0, int(np.floor(cx - bw / 2))),
                    max(0, int(np.floor(cy - bh / 2))),
                    min(width, int(np.ceil(cx + bw / 2))),
                    min(height, int(np.ceil(cy + bh / 2))),
                )
            )
    return out


def _ranges(flags: list[bool]) -> list[list[int]]:
    """Per-frame flags as PA-HMDB51 ranges ``[start, end_inclusive, value]`` covering every frame."""
    out: list[list[int]] = []
    for t, f in enumerate(flags):
        v = int(bool(f))
        if out and out[-1][2] == v:
            out[-1][1] = t
        else:
            out.append([t, t, v])
    return out


def _annotate(items: list[_Item], rendered: dict[str, dict], seed: int, num_frames: int) -> list[dict]:
    """Simulated annotators' work, as a Label Studio JSON export."""
    rng = np.random.default_rng(_seed(seed, 5))
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    tasks, ann_id = [], 0

    def stamp(minutes: float) -> str:
        return (t0 + timedelta(minutes=float(minutes))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def answers(annotator: dict, item: _Item) -> list[dict]:
        result = []
        for a in ATTRIBUTES:
            truth = item.attributes[a]
            if truth:
                shown = float(np.mean(rendered[item.video_id]["visibility"][a]))
                vote = 0 if rng.random() < annotator["fn"] + MISS_PER_HIDDEN_SHARE * (1 - shown) else 1
            else:
                vote = 1 if rng.random() < annotator["fp"] else 0
            result.append(
                {
                    "id": f"{a[:4]}{ann_id}",
                    "from_name": a,
                    "to_name": "video",
                    "type": "choices",
                    "origin": "manual",
                    "value": {"choices": ["yes" if vote else "no"]},
                }
            )
        return result

    for task_id, item in enumerate(items, 1):
        annotations = []
        for annotator in ANNOTATORS:
            minute = task_id * 3 + annotator["id"]
            if annotator["id"] == 2 and rng.random() < REDO_RATE:
                ann_id += 1
                first = answers(annotator, item)
                for r in first:  # the first pass had every answer flipped; the revision below wins
                    r["value"]["choices"] = ["no" if r["value"]["choices"] == ["yes"] else "yes"]
                annotations.append(
                    _annotation(ann_id, annotator, task_id, first, stamp(minute), stamp(minute), False, seed)
                )
                minute += 600
            ann_id += 1
            if annotator["id"] == 3 and rng.random() < CANCEL_RATE:
                annotations.append(
                    _annotation(ann_id, annotator, task_id, [], stamp(minute), stamp(minute), True, seed)
                )
                continue
            annotations.append(
                _annotation(
                    ann_id, annotator, task_id, answers(annotator, item), stamp(minute), stamp(minute + 1), False, seed
                )
            )
        tasks.append(
            {
                "id": task_id,
                "data": {"video": f"/data/local-files/?d=raw/{item.video_id}.avi", "video_id": item.video_id},
                "annotations": annotations,
                "drafts": [],
                "predictions": [],
                "meta": {},
                "created_at": stamp(0),
                "updated_at": stamp(task_id * 3 + 10),
                "allow_skip": True,
                "inner_id": task_id,
                "total_annotations": sum(not a["was_cancelled"] for a in annotations),
                "cancelled_annotations": sum(a["was_cancelled"] for a in annotations),
                "total_predictions": 0,
                "comment_count": 0,
                "unresolved_comment_count": 0,
                "last_comment_updated_at": None,
                "project": 1,
                "updated_by": annotations[-1]["completed_by"],
                "comment_authors": [],
            }
        )
    return tasks


def _annotation(
    ann_id: int, annotator: dict, task_id: int, result: list, created: str, updated: str, cancelled: bool, seed: int
) -> dict:
    # Every field of an annotation in Label Studio 1.23's JSON export, as an annotator's own submission sets them.
    return {
        "id": ann_id,
        "completed_by": annotator["id"],
        "result": result,
        "was_cancelled": cancelled,
        "ground_truth": False,
        "created_at": created,
        "updated_at": updated,
        "draft_created_at": None,
        "lead_time": 42.0,
        "prediction": {},
        "result_count": len(result),
        # Deterministic (no draw from the annotators' generator, so the votes do not depend on it).
        "unique_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"vp-synth/{seed}/annotation/{ann_id}")),
        "import_id": None,
        "last_action": None,
        "bulk_created": False,
        "task": task_id,
        "project": 1,
        "updated_by": annotator["id"],
        "parent_prediction": None,
        "parent_annotation": None,
        "last_created_by": None,
    }


GENERATED_LIST = "annotations/generated_files.txt"  # every file the generator wrote, relative to the dataset folder
# vpbench's own outputs from a dataset: kept, and refused as stale by content hash
_DERIVED = ("cache", "fiftyone-media")


def check_synth_target(out: Path) -> None:
    """Refuse to rebuild VP-Synth over a folder holding a file VP-Synth did not write, naming the first one.

    A rebuild replaces ``raw/``, ``splits/`` and ``annotations/``: a folder is only taken for a previous VP-Synth
    build when its info.json says so, and then every file in those three must be one the generator listed."""
    import json

    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if not out.is_dir():
        raise VPBenchError(f"{out}: exists and is not a folder; choose another --out")
    try:
        info = json.loads((out / "info.json").read_text())
        synthetic = isinstance(info, dict) and "synthetic" in info
    except (OSError, ValueError):
        synthetic = False
    if not synthetic:
        first = min((p for p in out.rglob("*") if not p.is_dir()), default=None) or min(out.iterdir())
        raise VPBenchError(
            f"{out} is not a VP-Synth build (it holds {first.relative_to(out)}); choose an empty or new --out"
        )
    written = _generated_files(out)
    for sub in ("raw", "splits", "annotations"):
        for path in sorted((out / sub).rglob("*")) if (out / sub).is_dir() and not (out / sub).is_symlink() else []:
            rel = path.relative_to(out).as_posix()
            if (path.is_file() or path.is_symlink()) and rel not in written:
                raise VPBenchError(
                    f"{out}: {rel} was not written by VP-Synth, and a rebuild would delete it; move it "
                    f"out or choose another --out"
                )


def _generated_files(out: Path) -> set[str]:
    listed = out / GENERATED_LIST
    if listed.is_file():
        return set(listed.read_text().splitlines())
    # A build from before the list: its videos are the manifest's, its split files and annotations all its own.
    import pandas as pd

    try:
        videos = set(pd.read_parquet(out / "manifest.parquet", columns=["path"])["path"])
    except Exception:  # noqa: BLE001 - pyarrow reports a damaged file with several types
        videos = set()
    own = {
        p.relative_to(out).as_posix()
        for sub in ("splits", "annotations")
        if (out / sub).is_dir()
        for p in (out / sub).rglob("*")
        if p.is_file()
    }
    return videos | own


def generate_synth(
    kind: str, out: str | Path, size: str = "default", seed: int = 0, workers: int | None = None, progress: bool = True
) -> SynthOutput:
    """Generate VP-Synth's raw tree, splits and annotations inside ``out`` (deterministic from ``seed``)."""
    from ...core.progress import Progress

    out = Path(out)
    items, splits, settings = _plan(kind, size, seed)
    if out.exists() and any(out.iterdir()):
        raise VPBenchError(f"{out}: VP-Synth generates into an empty folder")
    raw, split_dir, ann_dir = out / "raw", out / "splits", out / "annotations"
    raw.mkdir(parents=True, exist_ok=True)
    workers = workers or min(mp.cpu_count(), 8)
    jobs = [(item, settings, str(raw)) for item in items]
    rendered: dict[str, dict] = {}
    with Progress(total=len(jobs), desc=f"generating {kind}", unit="video", disable=not progress) as bar:
        if workers <= 1:
            for job in jobs:
                vid, r = _render_and_write(job)
                rendered[vid] = r
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
                for vid, r in pool.map(_render_and_write, jobs, chunksize=2):
                    rendered[vid] = r
                    bar.update()

    if kind == "synth-hmdb51":
        split_dir.mkdir(parents=True, exist_ok=True)
        for action in settings["actions"]:
            for fold in (1, 2, 3):
                code = {"train": "1", "test": "2", "unused": "0"}
                lines = [
                    f"{vid.split('/', 1)[1]}.avi {code[splits[vid][fold - 1]]} \n"  # HMDB51's trailing space
                    for vid in sorted(splits)
                    if vid.split("/", 1)[0] == action
                ]
                atomic_write_text(split_dir / f"{action}_test_split{fold}.txt", "".join(lines))
    else:
        split_dir = out / "splits" / "ucfTrainTestlist"
        split_dir.mkdir(parents=True, exist_ok=True)
        classes = sorted(settings["actions"])
        atomic_write_text(split_dir / "classInd.txt", "".join(f"{i} {c}\r\n" for i, c in enumerate(classes, 1)))
        for fold in (1, 2, 3):
            train = [
                f"{vid}.avi {classes.index(vid.split('/')[0]) + 1}\r\n"
                for vid in sorted(splits)
                if splits[vid][fold - 1] == "train"
            ]
            test = [f"{vid}.avi\r\n" for vid in sorted(splits) if splits[vid][fold - 1] == "test"]
            atomic_write_text(split_dir / f"trainlist{fold:02d}.txt", "".join(train))
            atomic_write_text(split_dir / f"testlist{fold:02d}.txt", "".join(test))

    ann_dir.mkdir(parents=True, exist_ok=True)
    export = ann_dir / "labelstudio-export.json"
    atomic_write_json(export, _annotate(items, rendered, seed, settings["num_frames"]))

    frames_dir = ann_dir / "frames"
    frames_dir.mkdir(exist_ok=True)
    for action in settings["actions"]:
        per_video = {}
        for item in items:
            if item.action == action:
                vis = rendered[item.video_id]["visibility"]
                per_video[item.video_id.split("/", 1)[1] + ".avi"] = {
                    **{a: _ranges(vis[a]) for a in ATTRIBUTES},
                    "review": False,
                    "note": "VP-Synth visibility",
                }
        atomic_write_json(frames_dir / f"{action}.json", per_video)

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["video_id", "frame", "person", "x0", "y0", "x1", "y1"])
    for item in items:
        for t, frame_boxes in enumerate(rendered[item.video_id]["boxes"]):
            for p, (x0, y0, x1, y1) in enumerate(frame_boxes):
                writer.writerow([item.video_id, t, p, x0, y0, x1, y1])
    boxes = ann_dir / "boxes.csv"
    atomic_write_text(boxes, buf.getvalue())

    truth = io.StringIO()
    writer = csv.writer(truth, lineterminator="\n")
    writer.writerow(["video_id", *ATTRIBUTES])
    for item in items:
        writer.writerow([item.video_id, *(item.attributes[a] for a in ATTRIBUTES)])
    atomic_write_text(ann_dir / "ground_truth.csv", truth.getvalue())

    written = sorted(
        p.relative_to(out).as_posix()
        for sub in ("raw", "splits", "annotations")
        for p in (out / sub).rglob("*")
        if p.is_file()
    )
    atomic_write_text(out / GENERATED_LIST, "".join(f"{p}\n" for p in [*written, GENERATED_LIST]))

    info = {
        "generator": "vp-synth",
        "generator_version": GENERATOR_VERSION,
        "size": size,
        "seed": seed,
        "fps": FPS,
        **settings,
        "annotators": [{k: a[k] for k in ("id", "fn", "fp")} for a in ANNOTATORS],
        "miss_per_hidden_share": MISS_PER_HIDDEN_SHARE,
        "cancel_rate": CANCEL_RATE,
        "redo_rate": REDO_RATE,
        "reversed_pairs": {k: v for k, v in render.REVERSED_PAIRS.items() if k in settings["actions"]},
    }
    return SynthOutput(raw=raw, splits=split_dir, export=export, frames=frames_dir, boxes=boxes, info=info)
