"""`vpbench build`: raw videos + split files + label files -> a dataset directory.

The directory holds ``manifest.parquet`` (one row per usable video),
``info.json`` (what was built from what, counts, agreement) and
``build_report.json`` (every input that was skipped and why), plus
``frame_labels.parquet`` and ``boxes.parquet`` when those inputs exist.
Bad inputs (an undecodable or too short video, a label for a video that is
not there, a video with no label) are listed in the report and the build
goes on; ``strict=True`` turns any of them into a failure. Every file is
written atomically and the same inputs give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..core.atomic import atomic_write, atomic_write_json, check_output_dir
from ..core.attributes import ATTRIBUTES, STPRIVACY_PICKLE_ORDER, parse_attribute_order
from ..core.errors import VPBenchError, unknown_name_error
from ..core.files import sha256_file
from .datasets import DATASETS, DatasetSpec
from .layouts import (
    SPLIT_VALUES,
    escapes_root,
    list_videos,
    read_hmdb51_splits,
    read_manifest_table,
    read_ucf101_class_index,
    read_ucf101_splits,
    resolves_inside,
    video_key,
)
from .staging import build_lock, commit, discard, new_staging
from .video import VideoError, probe_video

LABEL_FORMATS = ("labelstudio", "csv", "stprivacy-pickle", "pa-hmdb51")
DATASET_FORMAT_VERSION = 1
PA_HMDB51_TRAIN_SHARE = 0.6  # the STPrivacy paper's random 60/40 split of PA-HMDB51


@dataclass
class BuildResult:
    out: Path
    info: dict
    report: dict
    manifest: pd.DataFrame = field(repr=False)


@dataclass
class _Labels:
    votes: pd.DataFrame  # key, annotator, attribute, vote
    frame_labels: pd.DataFrame | None = None  # key, frame, <attributes>
    warnings: list[str] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)


def content_sha256(video_hashes) -> str:
    """The dataset's content hash (info.json ``content_sha256``): of its videos' sha256s, in manifest order."""
    return hashlib.sha256("".join(video_hashes).encode()).hexdigest()


def _hash_inputs(path: Path) -> str:
    """Hash of a file, or of every file under a folder (names and contents)."""
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(p.relative_to(path).as_posix().encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def guess_label_format(path: Path) -> str:
    if path.is_dir():
        return "pa-hmdb51"
    suffix = path.suffix.lower()
    if suffix in (".pickle", ".pkl"):
        return "stprivacy-pickle"
    if suffix == ".csv":
        return "csv"
    if suffix == ".json":
        return "labelstudio"
    raise VPBenchError(
        f"{path}: cannot tell the label format from the name; pass --label-format ({', '.join(LABEL_FORMATS)})"
    )


def load_labels(paths: Sequence[str | os.PathLike], label_format: str | None, label_order: str | None) -> _Labels:
    """Read every label file into one votes table (plus frame labels for PA-HMDB51-style input)."""
    from .labels import (
        read_labelstudio_export,
        read_pa_hmdb51,
        read_stprivacy_pickle,
        read_vote_csv,
    )

    if label_format is not None and label_format not in LABEL_FORMATS:
        raise unknown_name_error("label format", label_format, LABEL_FORMATS)
    votes, frames, warnings, inputs = [], [], [], []
    for path in map(Path, paths):
        if not path.exists():
            raise VPBenchError(f"{path}: label file not found")
        fmt = label_format or guess_label_format(path)
        if fmt == "labelstudio":
            result = read_labelstudio_export(path)
        elif fmt == "csv":
            result = read_vote_csv(path, order=parse_attribute_order(label_order) if label_order else None)
        elif fmt == "stprivacy-pickle":
            result = read_stprivacy_pickle(
                path, order=parse_attribute_order(label_order or ",".join(STPRIVACY_PICKLE_ORDER))
            )
        else:
            result = read_pa_hmdb51(path)
            frames.append(result.frame_labels)
        votes.append(result.votes)
        warnings += [f"{path.name}: {w}" for w in result.warnings]
        inputs.append({"file": path.name, "format": fmt, "sha256": _hash_inputs(path)})
    if not votes:
        return _Labels(pd.DataFrame(columns=["key", "annotator", "attribute", "vote"]), None, warnings, inputs)
    table = pd.concat(votes, ignore_index=True)
    # Several exports (projects, rounds) may hold the same annotator on the same
    # video: the file given last wins, as a later round corrects an earlier one.
    dup = table.duplicated(["key", "annotator", "attribute"], keep="last")
    if dup.any():
        warnings.append(f"{int(dup.sum())} repeated votes across label files: the file given last wins")
        table = table[~dup]
    return _Labels(
        table.reset_index(drop=True), pd.concat(frames, ignore_index=True) if frames else None, warnings, inputs
    )


def _match_keys(label_keys: Sequence[str], video_ids: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Map label keys to video ids: the exact id, else a unique file-name match.

    Returns ``{label key: video id}`` and the keys that match no video (or
    several: an ambiguous name is not guessed).
    """
    ids = set(video_ids)
    by_stem: dict[str, list[str]] = {}
    for vid in video_ids:
        by_stem.setdefault(vid.rsplit("/", 1)[-1], []).append(vid)
    mapping, unmatched = {}, []
    for key in label_keys:
        if key in ids:
            mapping[key] = key
            continue
        candidates = by_stem.get(key.rsplit("/", 1)[-1], [])
        if len(candidates) == 1:
            mapping[key] = candidates[0]
        else:
            unmatched.append(key)
    return mapping, unmatched


def _probe_one(path: str) -> tuple[dict | None, str | None, str]:
    try:
        info = probe_video(path).as_dict()
        return info, None, sha256_file(path)
    except VideoError as exc:
        return None, str(exc).split(": ", 1)[-1], ""


def _probe_all(paths: list[Path], workers: int, progress: bool, desc: str) -> list[tuple[dict | None, str | None, str]]:
    from ..core.progress import Progress

    bar = Progress(total=len(paths), desc=desc, unit="video", disable=not progress)
    results = []
    try:
        if workers <= 1 or len(paths) < 8:
            for p in paths:
                results.append(_probe_one(str(p)))
                bar.update()
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
                for r in pool.map(_probe_one, [str(p) for p in paths], chunksize=4):
                    results.append(r)
                    bar.update()
    finally:
        bar.close()
    return results


def _sources(
    spec: DatasetSpec, raw: Path, splits: Path | None, labels: _Labels, seed: int, report: list[dict]
) -> tuple[pd.DataFrame, dict[str, int] | None, list[str]]:
    """The listed videos: ``video_id``, ``file`` (relative to raw), ``action``, ``split_<k>``."""
    on_disk = []
    for file in list_videos(raw):
        if _is_utf8(file):
            on_disk.append(file)
        else:
            # The manifest, report and labels are UTF-8 text: such a name cannot be stored or matched.
            report.append({"path": _shown(file), "reason": "file name is not valid UTF-8; rename the file"})
    disk_set = set(on_disk)
    warnings: list[str] = []
    class_index = None
    if spec.layout in ("hmdb51", "ucf101"):
        if splits is None:
            raise VPBenchError(f"--splits is required for {spec.name} (the {spec.layout} split files)")
        if spec.layout == "hmdb51":
            table, warnings = read_hmdb51_splits(splits)
        else:
            table, warnings = read_ucf101_splits(splits)
            class_index = read_ucf101_class_index(splits)
        listed = set(table["file"])
        missing = ~table["file"].isin(disk_set)
        for file in table.loc[missing, "file"]:
            report.append({"path": file, "reason": "listed in the split files but not found under the raw folder"})
        for file in sorted(disk_set - listed):
            report.append({"path": file, "reason": "not listed in any split file"})
        table = table[~missing]
    elif spec.layout == "pa-hmdb51":
        if labels.frame_labels is None:
            raise VPBenchError(
                "pa-hmdb51 needs its frame-level labels: --labels <PrivacyAttributes dir> --label-format pa-hmdb51"
            )
        keys = sorted(labels.votes["key"].unique())
        mapping, unmatched = _match_keys(keys, [video_key(p) for p in on_disk])
        by_id = {video_key(p): p for p in on_disk}
        rows = [{"video_id": k, "file": by_id[mapping[k]], "action": k.split("/", 1)[0]} for k in keys if k in mapping]
        # Labels for videos that are not there are reported by the label matching below.
        table = pd.DataFrame(rows, columns=["video_id", "file", "action"])
        order = sorted(table["video_id"])
        random.Random(seed).shuffle(order)
        n_train = int(round(PA_HMDB51_TRAIN_SHARE * len(order)))
        train = set(order[:n_train])
        table["split_1"] = ["train" if v in train else "test" for v in table["video_id"]]
        return table.sort_values("video_id").reset_index(drop=True), None, warnings
    else:
        raise VPBenchError(f"layout {spec.layout} has no raw-tree reader")
    table = table.copy()
    table["video_id"] = [video_key(f) for f in table["file"]]
    return table.sort_values("video_id").reset_index(drop=True), class_index, warnings


def _is_utf8(name: str) -> bool:
    # os.walk gives undecodable bytes of a file name as lone surrogates (PEP 383).
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(name: str) -> str:
    """A file name with its undecodable bytes as ``\\xNN``, printable in a UTF-8 report."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _manifest_sources(
    manifest: Path, raw: Path | None, report: list[dict]
) -> tuple[pd.DataFrame, Path, _Labels | None]:
    table = read_manifest_table(manifest)
    root = raw if raw is not None else manifest.parent
    for file in table["file"]:
        if not resolves_inside(root, file):
            raise VPBenchError(
                f"{manifest}: '{file}' resolves to {(root / file).resolve()}, outside the dataset root "
                f"{root} (a symlink out); copy the video in or pass --raw"
            )
    present = table["file"].map(lambda f: (root / f).is_file())
    for file in table.loc[~present, "file"]:
        report.append({"path": str(file), "reason": "listed in the manifest but not found"})
    table = table[present].copy()
    table["video_id"] = [video_key(f) for f in table["file"]]
    attr_cols = [a for a in ATTRIBUTES if a in table.columns]
    inline = None
    if attr_cols:
        if len(attr_cols) != len(ATTRIBUTES):
            missing = [a for a in ATTRIBUTES if a not in attr_cols]
            raise VPBenchError(f"{manifest}: has some attribute columns but not {', '.join(missing)}")
        long = table.melt(id_vars=["video_id"], value_vars=list(ATTRIBUTES), var_name="attribute", value_name="vote")
        bad = ~long["vote"].isin([0, 1])
        if bad.any():
            row = long[bad].iloc[0]
            raise VPBenchError(
                f"{manifest}: attribute '{row['attribute']}' of '{row['video_id']}' is {row['vote']!r}, not 0 or 1"
            )
        long = long.rename(columns={"video_id": "key"}).assign(annotator="manifest")
        long["vote"] = long["vote"].astype(int)
        inline = _Labels(
            long[["key", "annotator", "attribute", "vote"]],
            None,
            [],
            [{"file": manifest.name, "format": "manifest", "sha256": sha256_file(manifest)}],
        )
    split_cols = [c for c in table.columns if c.startswith("split_")]
    return (
        table[["video_id", "file", "action", *split_cols]].sort_values("video_id").reset_index(drop=True),
        root,
        inline,
    )


def _read_boxes(
    path: Path, video_ids: set[str], num_frames: dict[str, int], sizes: dict[str, tuple[int, int]]
) -> pd.DataFrame:
    """Person boxes CSV: ``video_id, frame, person, x0, y0, x1, y1`` (pixels, x1/y1 exclusive).

    ``sizes``: each video's probed ``(width, height)``. Every cell must be a number; a box of a built
    video that cannot act (inverted, no pixel in the frame, past the last frame) is an error naming its
    line (:mod:`vpbench.data.boxes`). Rows of videos not in the dataset are dropped after the cell check.
    """
    from .boxes import check_boxes, read_boxes_csv

    need = ["video_id", "frame", "person", "x0", "y0", "x1", "y1"]
    boxes = read_boxes_csv(path, need[1:], text=["video_id"])
    boxes["video_id"] = boxes["video_id"].map(video_key)
    boxes = boxes[boxes["video_id"].isin(video_ids)]
    if boxes.empty:
        # Box-based methods would then change nothing on this dataset while looking anonymized.
        raise VPBenchError(f"{path}: no box for any of the {len(video_ids)} built videos; check its video_id column")
    vid = boxes["video_id"]
    boxes = check_boxes(
        boxes,
        path,
        vid.map(num_frames).to_numpy(),
        vid.map(lambda v: sizes[v][0]).to_numpy(),
        vid.map(lambda v: sizes[v][1]).to_numpy(),
        video=vid,
    )
    boxes = boxes[need].copy()
    for c in need[1:]:
        boxes[c] = boxes[c].astype(np.int32)
    return boxes.sort_values(["video_id", "frame", "person"]).reset_index(drop=True)


def build_dataset(
    dataset: str,
    out: str | os.PathLike,
    *,
    raw: str | os.PathLike | None = None,
    splits: str | os.PathLike | None = None,
    labels: Sequence[str | os.PathLike] = (),
    label_format: str | None = None,
    label_order: str | None = None,
    frame_labels: str | os.PathLike | None = None,
    boxes: str | os.PathLike | None = None,
    manifest: str | os.PathLike | None = None,
    size: str = "default",
    seed: int = 0,
    strict: bool = False,
    tie_policy: str = "positive",
    min_frames: int = 16,
    workers: int | None = None,
    progress: bool = True,
    name: str | None = None,
    val_share: float | None = None,
) -> BuildResult:
    """Build the dataset directory ``out`` (see the module docstring).

    ``val_share`` of each action's train videos (per fold, drawn with ``seed``) become ``val``: the split that
    `vpbench evaluate --holdout val` scores. None takes the dataset's default (VP-Synth 0.2, the real datasets 0).

    ``dataset`` is a registered dataset name. Synthetic ones (``synth-*``)
    first generate raw videos, split files, boxes, per-frame visibility and
    simulated annotator exports inside ``out`` and then build from them
    through the same path as the real datasets.
    """
    spec = DATASETS.get(dataset)
    out = Path(out)
    check_build_arguments(out, seed=seed, min_frames=min_frames, workers=workers)
    val_share = spec.val_share if val_share is None else check_val_share(val_share)
    with build_lock(out):
        if spec.synthetic:
            from .synth.generate import check_synth_target

            check_synth_target(out)
        else:
            _check_raw_entry(out, raw, spec)
        staging = new_staging(out)
        try:
            if spec.synthetic:
                from .synth.generate import generate_synth

                gen = generate_synth(spec.name, staging, size=size, seed=seed, workers=workers, progress=progress)
                real = DATASETS.get("vp-hmdb51" if spec.layout == "hmdb51" else "vp-ucf101")
                result = _build(
                    real,
                    staging,
                    out,
                    raw=gen.raw,
                    splits=gen.splits,
                    labels=[gen.export],
                    label_format="labelstudio",
                    label_order=None,
                    frame_labels=gen.frames,
                    boxes=gen.boxes,
                    manifest=None,
                    seed=seed,
                    strict=strict,
                    tie_policy=tie_policy,
                    min_frames=min_frames,
                    workers=workers,
                    progress=progress,
                    name=spec.name,
                    extra_info={"synthetic": gen.info},
                    val_share=val_share,
                )
            else:
                result = _build(
                    spec,
                    staging,
                    out,
                    raw=raw,
                    splits=splits,
                    labels=labels,
                    label_format=label_format,
                    label_order=label_order,
                    frame_labels=frame_labels,
                    boxes=boxes,
                    manifest=manifest,
                    seed=seed,
                    strict=strict,
                    tie_policy=tie_policy,
                    min_frames=min_frames,
                    workers=workers,
                    progress=progress,
                    name=name or spec.name,
                    extra_info={},
                    val_share=val_share,
                )
            # What the new build wrote replaces the old entry of that name; build outputs it did not write this time
            # (frame labels, boxes) go as stale; everything else in the old folder (a raw tree in place, the clip
            # cache, your own files) moves over.
            commit(staging, out, replaced=BUILD_OUTPUTS | {p.name for p in staging.iterdir()})
        except BaseException:
            discard(staging)
            raise
    failure_report_path(out).unlink(missing_ok=True)
    return BuildResult(out, result.info, result.report, result.manifest)


# The files a build writes at the top of the dataset folder (besides raw/ and, for VP-Synth, splits/ and annotations/).
BUILD_OUTPUTS = frozenset(
    {"manifest.parquet", "info.json", "build_report.json", "frame_labels.parquet", "boxes.parquet"}
)


def failure_report_path(out: Path) -> Path:
    """Where a failed build (``--strict``, no usable video) reports: beside the folder, which it leaves as it was."""
    return out.parent / f"{out.name}.build_report.json"


def check_build_arguments(out: Path, *, seed: int, min_frames: int, workers: int | None) -> None:
    """The mistakes that can be seen before any work: one line each, nothing written."""
    check_seed(seed)
    if min_frames < 1:
        raise VPBenchError(f"--min-frames must be at least 1, got {min_frames}")
    check_workers(workers)
    check_output_dir(out, "dataset folder")


def check_val_share(share) -> float:
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= float(share) < 1.0:
        raise VPBenchError(f"--val-share must be a fraction in [0, 1), got {share}")
    return float(share)


def carve_val(
    split: pd.Series, actions: pd.Series, share: float, seed: int, fold: int, groups: pd.Series | None = None
) -> pd.Series:
    """``split`` with ``share`` of the train videos moved to ``val``, seeded by the build seed and the fold; videos
    already ``val`` (a manifest may give them) stay.

    Without ``groups``: ``share`` of each action's train videos (rounded, at least one; an action keeps at least
    one train video), drawn per action (seeded by its name too, so a video's part does not depend on the other
    actions). With ``groups`` (UCF101's group numbers: clips of one actor and scene, the same numbers for every
    action): ``share`` of the train group numbers, whole, as UCF101's test split takes whole group numbers, so
    that val, like test, holds actors and scenes that no train video shows."""
    split = split.copy()
    if share <= 0:
        return split
    train = (split == "train").to_numpy()
    if groups is not None:
        _to_val(split, train, groups.to_numpy(), share, [seed, fold])
        return split
    for action in sorted(actions.unique()):
        key = int.from_bytes(hashlib.sha256(str(action).encode()).digest()[:8], "little")
        _to_val(split, train & (actions == action).to_numpy(), np.arange(len(split)), share, [seed, fold, key])
    return split


def _to_val(split: pd.Series, rows: np.ndarray, units: np.ndarray, share: float, seed: list[int]) -> None:
    """Move ``share`` (at least one, never all) of the ``units`` of ``rows`` to val, whole."""
    candidates = np.unique(units[rows])
    n_val = min(max(int(round(share * len(candidates))), 1), len(candidates) - 1)
    if n_val > 0:
        chosen = np.random.default_rng(seed).choice(candidates, size=n_val, replace=False)
        split.iloc[np.flatnonzero(rows & np.isin(units, chosen))] = "val"


_UCF101_GROUP = r"_g(\d+)_c\d+$"  # v_<Action>_g08_c01: group 8


def _val_groups(video_ids: pd.Series, layout: str) -> pd.Series | None:
    """UCF101's groups (parsed from the video ids), where every video has one; else None (videos carve singly)."""
    if layout != "ucf101":
        return None
    groups = video_ids.str.extract(_UCF101_GROUP, expand=False)
    return None if groups.isna().any() else groups.astype(int)


def check_seed(seed) -> int:
    """A seed is a non-negative integer (numpy's generators refuse the rest, and only after the work began)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0 or seed >= 2**63:
        raise VPBenchError(f"--seed must be a non-negative integer, got {seed}")
    return int(seed)


def check_workers(workers: int | None) -> None:
    if workers is not None and workers < 1:
        raise VPBenchError(f"--workers must be at least 1, got {workers}")


def _check_raw_entry(out: Path, raw, spec: DatasetSpec) -> None:
    """A real build links ``out/raw`` to its raw tree; a folder already there that is not that tree is not replaced."""
    link = out / "raw"
    if raw is None or spec.layout == "manifest" or link.is_symlink() or not link.exists():
        return
    if link.resolve() != Path(raw).resolve():
        raise VPBenchError(f"{link} exists and is not the raw folder {Path(raw).resolve()}; choose another --out")


def _raw_root(staging: Path, out: Path, raw: Path) -> str:
    """How the dataset reaches its raw tree: ``"raw"`` when it lives in its own ``raw/`` (VP-Synth's, written into
    the staging folder, or one the user put in ``out/raw``), else its absolute path (``raw`` becomes a symlink to
    it)."""
    if (staging / "raw").resolve() == raw.resolve():
        return "raw"
    in_place = out / "raw"
    return "raw" if in_place.resolve() == raw.resolve() and not in_place.is_symlink() else str(raw.resolve())


def _build(
    spec: DatasetSpec,
    staging: Path,
    out: Path,
    *,
    raw,
    splits,
    labels,
    label_format,
    label_order,
    frame_labels,
    boxes,
    manifest,
    seed,
    strict,
    tie_policy,
    min_frames,
    workers,
    progress,
    name,
    extra_info,
    val_share,
) -> BuildResult:
    from .labels import TIE_POLICIES, aggregate_votes, read_pa_hmdb51

    if tie_policy not in TIE_POLICIES:
        raise unknown_name_error("tie policy", tie_policy, TIE_POLICIES)
    skipped: list[dict] = []
    label_set = load_labels(labels, label_format, label_order)

    if spec.layout == "manifest":
        if manifest is None:
            raise VPBenchError("the manifest dataset needs --manifest FILE (CSV or parquet)")
        source, root, inline = _manifest_sources(Path(manifest), Path(raw) if raw else None, skipped)
        if not labels:
            if inline is None:
                raise VPBenchError(f"{manifest}: no attribute columns and no --labels given")
            label_set = inline
        class_index = None
        split_warnings: list[str] = []
    else:
        if raw is None:
            raise VPBenchError(f"--raw is required for {spec.name} (the folder of raw videos)")
        root = Path(raw)
        if not labels:
            raise VPBenchError(f"--labels is required for {spec.name}")
        source, class_index, split_warnings = _sources(
            spec, root, Path(splits) if splits else None, label_set, seed, skipped
        )

    # Labels -> video ids; unmatched labels and unlabelled videos are reported.
    keys = sorted(label_set.votes["key"].unique())
    mapping, unmatched = _match_keys(keys, list(source["video_id"]))
    for key in unmatched:
        skipped.append({"path": key, "reason": "label for a video that is not there"})
    votes = label_set.votes[label_set.votes["key"].isin(mapping)].copy()
    votes["key"] = votes["key"].map(mapping)
    # A video needs at least one vote on every attribute: a label cannot be invented.
    voted = votes.groupby("key")["attribute"].agg(lambda a: set(a))
    labelled = {k for k, attrs in voted.items() if attrs >= set(ATTRIBUTES)}
    for vid, file in zip(source["video_id"], source["file"]):
        if vid not in voted:
            skipped.append({"path": file, "reason": "no privacy label for this video"})
        elif vid not in labelled:
            missing = ", ".join(a for a in ATTRIBUTES if a not in voted[vid])
            skipped.append({"path": file, "reason": f"no vote for attribute(s) {missing}"})
    votes = votes[votes["key"].isin(labelled)]
    source = source[source["video_id"].isin(labelled)].reset_index(drop=True)

    # Probe every remaining video: decodable frame count, fps, size, hash.
    workers = workers if workers is not None else (os.cpu_count() or 1)
    probes = _probe_all([root / f for f in source["file"]], workers, progress, f"probing {name}")
    keep, infos = [], []
    for (vid, file), (info, error, digest) in zip(zip(source["video_id"], source["file"]), probes):
        if error is not None:
            skipped.append({"path": file, "reason": error})
        elif info["num_frames"] < min_frames:
            skipped.append(
                {"path": file, "reason": f"too short: {info['num_frames']} frames, one clip needs {min_frames}"}
            )
        else:
            keep.append(vid)
            infos.append({**info, "sha256": digest, "bytes": (root / file).stat().st_size})
    source = source[source["video_id"].isin(set(keep))].reset_index(drop=True)
    if source.empty:
        skipped = sorted(skipped, key=lambda r: (r["path"], r["reason"]))
        atomic_write_json(
            failure_report_path(out), {"dataset": name, "skipped": skipped, "warnings": label_set.warnings, "videos": 0}
        )
        first = f"; first: {skipped[0]['path']}: {skipped[0]['reason']}" if skipped else ""
        raise VPBenchError(
            f"no usable video for {name}: {len(skipped)} input(s) skipped{first} (all in {failure_report_path(out)})"
        )
    info_table = pd.DataFrame(infos, index=keep).loc[source["video_id"]].reset_index(drop=True)

    aggregate = aggregate_votes(votes[votes["key"].isin(set(keep))], tie_policy=tie_policy)
    labels_table = aggregate.labels.loc[source["video_id"]].reset_index(drop=True)

    # UCF101 numbers its classes in classInd.txt; elsewhere the index is alphabetical.
    actions = sorted(source["action"].unique(), key=(lambda a: (class_index[a], a)) if class_index else None)
    action_index = {a: i for i, a in enumerate(actions)}
    split_cols = sorted((c for c in source.columns if c.startswith("split_")), key=lambda c: int(c.split("_")[1]))
    # Manifest paths are relative to the dataset directory and never leave it: the raw tree
    # (for a generic manifest without --raw, the manifest's folder) is reached through out/raw.
    root_rel = _raw_root(staging, out, root)
    prefix = "raw/"

    manifest_df = pd.DataFrame(
        {
            "video_id": source["video_id"],
            "path": [prefix + f for f in source["file"]],
            "action": source["action"],
            "action_index": source["action"].map(action_index).astype(np.int32),
        }
    )
    groups = _val_groups(source["video_id"], spec.layout)
    for c in split_cols:
        fold = int(c.split("_")[1])
        manifest_df[c] = carve_val(source[c].astype(str), source["action"], val_share, seed, fold, groups)
    for a in ATTRIBUTES:
        manifest_df[a] = labels_table[a].astype(np.int8)
    for a in ATTRIBUTES:
        manifest_df[f"{a}_yes"] = labels_table[f"{a}_yes"].astype(np.int16)
        manifest_df[f"{a}_votes"] = labels_table[f"{a}_votes"].astype(np.int16)
        manifest_df[f"{a}_tie"] = labels_table[f"{a}_tie"].astype(bool)
    manifest_df["annotators"] = labels_table["annotators"].astype(np.int16)
    manifest_df["num_frames"] = info_table["num_frames"].astype(np.int32)
    manifest_df["fps"] = info_table["fps"].astype(np.float64)
    manifest_df["width"] = info_table["width"].astype(np.int32)
    manifest_df["height"] = info_table["height"].astype(np.int32)
    manifest_df["codec"] = info_table["codec"].astype(str)
    manifest_df["sha256"] = info_table["sha256"].astype(str)
    manifest_df["bytes"] = info_table["bytes"].astype(np.int64)  # a cheap check that a video is still the one built

    num_frames = dict(zip(manifest_df["video_id"], manifest_df["num_frames"]))
    warnings = split_warnings + label_set.warnings + aggregate.notes
    unusable_folds = [
        f"{c} has no {value} video"
        for c in split_cols
        for value in ("train", "test")
        if not (manifest_df[c] == value).any()
    ]
    frame_table = label_set.frame_labels
    if frame_labels is not None:
        frame_table = read_pa_hmdb51(Path(frame_labels)).frame_labels
    if frame_table is not None:
        frame_table = _frame_labels_for(frame_table, num_frames, warnings)
    boxes_table = (
        _read_boxes(
            Path(boxes),
            set(num_frames),
            num_frames,
            dict(zip(manifest_df["video_id"], zip(manifest_df["width"], manifest_df["height"]))),
        )
        if boxes is not None
        else None
    )

    skipped = sorted(skipped, key=lambda r: (r["path"], r["reason"]))
    report = {
        "dataset": name,
        "skipped": skipped,
        "warnings": warnings,
        "unusable_folds": unusable_folds,
        "videos": len(manifest_df),
    }
    if strict and skipped:
        atomic_write_json(failure_report_path(out), report)
        raise VPBenchError(
            f"--strict: {len(skipped)} input(s) skipped, first: {skipped[0]['path']}: {skipped[0]['reason']} "
            f"(all in {failure_report_path(out)}); nothing else was written"
        )

    info = {
        "name": name,
        "format_version": DATASET_FORMAT_VERSION,
        "source": spec.name,
        "layout": spec.layout,
        "builder": {"vpbench": __version__},
        "counts": {"videos": int(len(manifest_df)), "classes": len(actions), "skipped": len(skipped)},
        "actions": actions,
        "label_order": list(ATTRIBUTES),
        "input_label_order": label_order.split(",") if label_order else None,
        "tie_policy": tie_policy,
        "splits": {c: {v: int((manifest_df[c] == v).sum()) for v in SPLIT_VALUES} for c in split_cols},
        "val": {
            "share": val_share,
            "seed": seed,
            "stratified_by": "action",
            "carved_from": "train",
            "unit": "video" if groups is None else "group",
        },
        "positives": {a: int(manifest_df[a].sum()) for a in ATTRIBUTES},
        "agreement": {
            "fleiss_kappa": aggregate.fleiss_kappa,
            "annotators": aggregate.annotator_agreement,
            "ties": {a: int(manifest_df[f"{a}_tie"].sum()) for a in ATTRIBUTES},
        },
        "inputs": {
            "labels": label_set.inputs,
            "splits_sha256": _hash_inputs(Path(splits)) if splits else None,
            "raw_root": root_rel,
        },
        "content_sha256": content_sha256(manifest_df["sha256"]),
        "min_frames": min_frames,
        "seed": seed,
        "files": {"frame_labels": frame_table is not None, "boxes": boxes_table is not None},
        **extra_info,
    }
    if root_rel != "raw":
        (staging / "raw").symlink_to(root_rel, target_is_directory=True)
    _write_parquet(staging / "manifest.parquet", manifest_df)
    if frame_table is not None:
        _write_parquet(staging / "frame_labels.parquet", frame_table)
    if boxes_table is not None:
        _write_parquet(staging / "boxes.parquet", boxes_table)
    atomic_write_json(staging / "build_report.json", report)
    # info.json last: its presence marks a complete build.
    atomic_write_json(staging / "info.json", info)
    return BuildResult(out, info, report, manifest_df)


def _frame_labels_for(frame_table: pd.DataFrame, num_frames: dict[str, int], warnings: list[str]) -> pd.DataFrame:
    """Per-frame labels for the built videos, keyed by video id, one row per decodable frame."""
    mapping, _ = _match_keys(sorted(frame_table["key"].unique()), list(num_frames))
    table = frame_table[frame_table["key"].isin(mapping)].copy()
    table["video_id"] = table["key"].map(mapping)
    table = table.drop(columns=["key"])
    parts = []
    for vid, group in table.groupby("video_id", sort=True):
        n = num_frames[vid]
        labelled = int(group["frame"].max()) + 1
        if labelled != n:
            warnings.append(
                f"{vid}: frame labels cover {labelled} frames, the video has {n}; unlabelled frames count as 0"
            )
        full = pd.DataFrame({"video_id": vid, "frame": np.arange(n, dtype=np.int32)})
        full = full.merge(group[group["frame"] < n], on=["video_id", "frame"], how="left")
        parts.append(full)
    if not parts:
        return pd.DataFrame(columns=["video_id", "frame", *ATTRIBUTES])
    out = pd.concat(parts, ignore_index=True)
    for a in ATTRIBUTES:
        out[a] = out[a].fillna(0).astype(np.int8)
    out["frame"] = out["frame"].astype(np.int32)
    return out[["video_id", "frame", *ATTRIBUTES]]


def _write_parquet(path: Path, table: pd.DataFrame) -> None:
    atomic_write(path, lambda p: table.to_parquet(p, index=False, engine="pyarrow", compression="zstd"))


def load_manifest(dataset_dir: str | os.PathLike) -> pd.DataFrame:
    """The manifest of a built dataset (paths stay relative to ``dataset_dir``)."""
    dataset_dir = Path(dataset_dir)
    if not (dataset_dir / "info.json").is_file() or not (dataset_dir / "manifest.parquet").is_file():
        raise VPBenchError(
            f"{dataset_dir}: not a built dataset (no info.json / manifest.parquet); run `vpbench build` first"
        )
    try:
        manifest = pd.read_parquet(dataset_dir / "manifest.parquet")
    except Exception as exc:  # noqa: BLE001 - pyarrow reports a damaged file with several types
        raise VPBenchError(
            f"{dataset_dir / 'manifest.parquet'}: unreadable ({type(exc).__name__}); rebuild the dataset"
        ) from None
    # A built dataset may come from elsewhere: its videos are reached through raw/ and nowhere else.
    bad = [
        p
        for p in manifest.get("path", pd.Series([], dtype=object)).astype(str)
        if not p.startswith("raw/") or escapes_root(p)
    ]
    if bad:
        raise VPBenchError(
            f"{dataset_dir / 'manifest.parquet'}: path '{bad[0]}' is not inside the dataset's raw/ "
            f"folder; rebuild the dataset"
        )
    return manifest


def load_info(dataset_dir: str | os.PathLike) -> dict:
    path = Path(dataset_dir) / "info.json"
    if not path.is_file():
        raise VPBenchError(f"{dataset_dir}: not a built dataset (no info.json); run `vpbench build` first")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VPBenchError(f"{path}: unreadable ({type(exc).__name__}); rebuild the dataset") from None
    # Every reader takes the name and the content hash: a file lacking them is as damaged as a truncated one.
    missing = [k for k in ("name", "content_sha256") if not isinstance(info, dict) or not isinstance(info.get(k), str)]
    if missing:
        raise VPBenchError(f"{path}: not a dataset's info.json (no {' or '.join(missing)}); rebuild the dataset")
    return info
