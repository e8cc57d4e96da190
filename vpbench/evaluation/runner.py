"""`vpbench evaluate`: run a protocol for a method and write one result JSON per evaluation.

Phases of one evaluation (each timed and shown with a progress bar):
fit the method (learned methods; on the protocol's method-training dataset),
transform the evaluation videos with the frozen method, train a fresh action
recognizer and a fresh privacy recognizer on transformed training videos,
test with multi-view averaging, score with bootstrap confidence intervals.

Every training phase checkpoints each epoch, and the test predictions are
kept, in ``<run>.work/`` (see :mod:`vpbench.evaluation.resume`): a killed run continues
with ``--resume`` and ends with the scores an uninterrupted run would give.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import __version__
from ..core import distributed
from ..core.atomic import atomic_write_json, check_free_space, check_output_dir
from ..core.attributes import ATTRIBUTES
from ..core.config import frame_interval, load_protocol, method_card, method_settings, recognizer_profile
from ..core.errors import VPBenchError, did_you_mean
from ..core.files import sha256_file
from ..data.builder import build_dataset, check_seed, load_info, load_manifest
from ..data.datasets import DATASETS
from ..data.frames.cache import cache_bytes, check_cache_space, ensure_cache
from ..data.frames.framefile import FrameFile
from ..data.frames.store import FrameStore, load_store
from ..methods import (
    METHODS,
    FitContext,
    FitData,
    PrivacyMethod,
    check_method_arguments,
    check_options,
    create_method,
)
from ..networks.recognizers import create_recognizer
from ..results import RESULT_SCHEMA_VERSION, EvaluationResult, preview_path
from .curves import Curves, check_tensorboard
from .engine import (
    TrainConfig,
    predict_frames,
    predict_videos,
    train_frame_recognizer,
    train_video_recognizer,
)
from .fidelity import video_fidelity
from .frozen import frozen_path, frozen_recognizer, videos_digest
from .metrics import action_top1, bootstrap_ci, per_action_top1, privacy_scores
from .preview import write_preview
from .resume import WorkDir, check_finished_result, check_work_dir


@dataclass
class Timer:
    phases: dict = field(default_factory=dict)

    def run(self, name: str, fn, *args, **kwargs):
        t = time.perf_counter()
        value = fn(*args, **kwargs)
        self.phases[name] = round(self.phases.get(name, 0.0) + time.perf_counter() - t, 3)
        return value


def ensure_dataset(name: str, data_root: Path, suite: str, progress: bool = True) -> Path:
    """The built dataset ``data_root/name``; a missing synthetic one is built there (default size, seed 0)."""
    path = data_root / name
    if (path / "info.json").is_file():
        return path
    spec = DATASETS.get(name)
    if suite == "synth" and spec.synthetic:
        if distributed.is_main():  # under torchrun one rank builds; the others wait for it
            build_dataset(name, path, size="default", seed=0, progress=progress)
        distributed.barrier()
        return path
    raise VPBenchError(
        f"{path}: dataset '{name}' is not built; run `vpbench build --dataset {name} --out {path} ...` first"
    )


def transform_store(
    method: PrivacyMethod,
    store: FrameStore,
    window: int,
    whole_frame: bool = False,
    progress: bool = True,
    desc: str = "transforming",
    out: str | os.PathLike | None = None,
) -> FrameStore:
    """Apply a frozen method to every video in windows of ``window`` frames (the last window ends at the video's end).

    The transformed videos go to the frame file ``out`` (written once, then read by position; an existing
    one is reused: ``--resume``), or into memory without ``out``. Under torchrun every rank transforms its
    share of the videos into the one file. An identity method (``raw``) returns ``store`` itself."""
    if method.needs_person_masks and store.masks is None and not whole_frame:
        raise VPBenchError(
            f"method '{method.name}' needs person boxes: the dataset has none (build it with --boxes) or pass "
            f"--whole-frame"
        )
    if method.identity:
        return store
    starts = np.concatenate([[0], np.cumsum(store.counts)[:-1]]).astype(np.int64)
    total = store.total_frames
    if out is None:
        pool = np.empty((total, *store.frame_size, 3), dtype=np.uint8)
        _transform_into(method, store, window, whole_frame, progress, desc, pool, starts, range(len(store)))
        return store.with_frames(pool, starts)
    out = Path(out)
    if not out.is_file():
        tmp = out.with_name(out.name + ".tmp")  # .tmp: a folder holding only it has nothing to resume
        if distributed.is_main():
            FrameFile.create(tmp, total, store.frame_size).close()
        distributed.barrier()
        pool = FrameFile(tmp, writable=True)
        part, _ = distributed.share(len(store))
        _transform_into(
            method,
            store,
            window,
            whole_frame,
            progress and distributed.is_main(),
            desc,
            pool,
            starts,
            range(len(store))[part],
        )
        pool.flush()
        pool.close()
        distributed.barrier()
        if distributed.is_main():
            os.replace(tmp, out)  # whole or not there: a killed run redoes the transform on --resume
        distributed.barrier()
    pool = FrameFile(out)
    if len(pool) != total or pool.shape[1:3] != store.frame_size:
        raise VPBenchError(
            f"{out}: holds {pool.shape}, expected {total} frames of {store.frame_size}; delete it to transform again"
        )
    return store.with_frames(pool, starts)


def _transform_into(
    method: PrivacyMethod,
    store: FrameStore,
    window: int,
    whole_frame: bool,
    progress: bool,
    desc: str,
    pool,
    starts: np.ndarray,
    videos,
) -> None:
    from ..core.progress import Progress

    with torch.no_grad():
        for i in Progress(videos, desc=desc, unit="video", disable=not progress):
            n = store.num_frames(i)
            frames = store.video(i)
            w = min(window, n)
            clip_starts = list(range(0, n - w + 1, w))
            if clip_starts[-1] + w < n:
                clip_starts.append(n - w)
            clips = torch.from_numpy(np.stack([frames[s : s + w] for s in clip_starts]))
            masks = None
            if method.needs_person_masks:
                if whole_frame:
                    masks = torch.ones(clips.shape[:4], dtype=torch.bool)
                else:
                    vm = store.video_masks(i)
                    masks = torch.from_numpy(np.stack([vm[s : s + w] for s in clip_starts]))
            result = method.transform(clips, masks)
            if result.shape != clips.shape or result.dtype != torch.uint8:
                raise VPBenchError(
                    f"method '{method.name}' returned {tuple(result.shape)} {result.dtype}, expected "
                    f"{tuple(clips.shape)} uint8"
                )
            video = np.empty_like(frames)
            for s, clip in zip(clip_starts, result.numpy()):
                video[s : s + w] = clip
            if isinstance(pool, np.ndarray):
                pool[starts[i] : starts[i] + n] = video
            else:
                pool.write(int(starts[i]), video)


HOLDOUTS = ("test", "val")  # what a run scores: the test split (the default, the leaderboard's) or val (tuning)


def _split_indices(manifest: pd.DataFrame, fold: int, holdout: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Rows of the fold's train split and of its ``holdout`` split (test or val). Nothing else of the fold is
    read: a ``val`` run never sees a test video, and val videos never train."""
    column = f"split_{fold}"
    if column not in manifest.columns:
        raise VPBenchError(
            f"the dataset has no fold {fold} (columns: "
            f"{', '.join(c for c in manifest.columns if c.startswith('split_'))})"
        )
    return np.where(manifest[column] == "train")[0], np.where(manifest[column] == holdout)[0]


def _git_hash(package_dir: Path | None = None) -> str | None:
    """The commit of the vpbench checkout this code runs from; None for an installed package. A package
    installed into a virtualenv that lies inside some git repository (a project's ``.venv``) is not that
    repository's code: only a checkout whose top folder holds the package counts."""
    package_dir = package_dir or Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "-C", str(package_dir), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.splitlines()  # one per line: a folder name may hold spaces
    if out.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != package_dir.resolve().parent:
        return None
    return lines[1]


def _versions() -> dict:
    import sklearn

    return {
        "vpbench": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


def _score(value: float, ci: tuple[float, float], higher: bool) -> dict:
    return {"value": value, "ci_low": ci[0], "ci_high": ci[1], "higher_is_better": higher}


def _f1_and_cmap(probs, labels) -> tuple[float, float]:
    scores = privacy_scores(probs, labels)
    return scores["f1"], scores["cmap"]


def _action_names(manifest) -> list[str]:
    """Class names by action index (the manifest's ``action`` column)."""
    names = manifest.drop_duplicates("action_index").set_index("action_index")["action"]
    return [str(names.get(i, i)) for i in range(int(manifest["action_index"].max()) + 1)]


def _scores(
    action_probs,
    action_labels,
    privacy_probs,
    privacy_labels,
    protocol: dict,
    seed: int,
    action_names: list[str],
    privacy_groups: np.ndarray | None = None,
) -> dict:
    """Headline scores with bootstrap intervals; ``privacy_groups`` (the video of each privacy row, for
    frame-level scores) makes the privacy bootstrap resample videos, not rows: frames of one video are
    not independent."""
    boot = protocol.get("bootstrap", {})
    n_boot, level = int(boot.get("samples", 1000)), float(boot.get("level", 0.95))
    higher = {m["name"]: bool(m["higher_is_better"]) for m in protocol["metrics"]}
    top1 = action_top1(action_probs, action_labels)
    priv = privacy_scores(privacy_probs, privacy_labels, ATTRIBUTES)
    f1_ci, cmap_ci = bootstrap_ci(
        _f1_and_cmap, [privacy_probs, privacy_labels], n_boot, level, seed, groups=privacy_groups
    )
    return {
        "scores": {
            "action_top1": _score(
                top1,
                bootstrap_ci(action_top1, [action_probs, action_labels], n_boot, level, seed),
                higher["action_top1"],
            ),
            "privacy_f1": _score(priv["f1"], f1_ci, higher["privacy_f1"]),
            "privacy_cmap": _score(priv["cmap"], cmap_ci, higher["privacy_cmap"]),
        },
        "per_attribute": priv["per_attribute"],
        "per_action": per_action_top1(action_probs, action_labels, action_names),
        "excluded_attributes": priv["excluded"],
        "bootstrap": {"samples": n_boot, "level": level, "unit": "test videos"},
    }


@dataclass
class EvaluationRequest:
    method: str
    protocol: str
    suite: str = "synth"
    dataset: str | None = None
    data_root: Path = Path("data")
    profile: str = "cpu"
    seed: int = 0
    out: Path = Path("results")
    resume: bool = False
    checkpoint: Path | None = None
    whole_frame: bool = False
    method_options: dict = field(default_factory=dict)
    protocols_dir: Path | None = None
    models_dir: Path | None = None
    progress: bool = True
    run_name: str | None = None
    # auto, cpu, cuda, cuda:K: every training and prediction loop (vpbench.core.distributed.configure)
    device: str = "auto"
    precision: str = "fp32"  # fp32, or bf16 autocast around the forward passes
    holdout: str = "test"  # the split scored: test, or val to choose settings on (HOLDOUTS)
    tensorboard: Path | None = None  # also write the training curves as TensorBoard events under this folder
    # With a dataset the protocol does not list: the dataset the method is fitted on (protocol cross)
    method_train_dataset: str | None = None

    def run_id(self) -> str:
        if self.run_name:
            return self.run_name
        parts = [self.profile, f"seed{self.seed}"]
        parts += [f"{k}{v}" for k, v in sorted(self.method_options.items())]
        if self.whole_frame:
            parts.append("wholeframe")
        if self.holdout != "test":
            parts.append(self.holdout)
        return "-".join(parts)


def evaluate(request: EvaluationRequest) -> list[Path]:
    """Run every evaluation of the protocol's suite (or only ``request.dataset``); return the result files.

    Under ``torchrun`` every process runs this; training and testing are shared between them
    (:mod:`vpbench.core.distributed`) and rank 0 writes the files."""
    # The device and precision first: a GPU this machine lacks is a one-line error before any work, and
    # the process group's backend follows the device (nccl on GPUs, gloo on CPUs).
    distributed.configure(request.device, request.precision)
    distributed.init_from_env()
    protocol = load_protocol(request.protocol, request.protocols_dir)
    suites = protocol["suites"]
    if request.suite not in suites:
        raise VPBenchError(
            f"protocol '{protocol['name']}' has no suite '{request.suite}'{did_you_mean(request.suite, suites)}; "
            f"choose from: {', '.join(suites)}"
        )
    jobs = suites[request.suite]
    if request.method_train_dataset is not None and request.dataset is None:
        raise VPBenchError("--method-train-dataset goes with --dataset (the dataset evaluated on)")
    if request.dataset is not None:
        names = [j["evaluate"] for j in jobs]
        jobs = [
            j
            for j in jobs
            if j["evaluate"] == request.dataset and request.method_train_dataset in (None, j["method_train"])
        ]
        if not jobs:
            built = (Path(request.data_root) / request.dataset / "info.json").is_file()
            if not built:
                raise VPBenchError(
                    f"protocol '{protocol['name']}' ({request.suite} suite) does not evaluate on "
                    f"'{request.dataset}'{did_you_mean(request.dataset, names)}; it evaluates on: {', '.join(names)}, "
                    f"and on any dataset built under --data-root"
                )
            jobs = [own_dataset_job(protocol, request)]
            request = replace(request, suite=CUSTOM_SUITE)
    method_cls = METHODS.get(request.method)  # unknown names fail before any work
    profile = recognizer_profile(request.profile, request.models_dir)
    request = _preflight(request, protocol, jobs, profile)
    # A thread count the user chose (torchrun sets OMP_NUM_THREADS=1) is kept; else every core.
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    expected = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "protocol": {"name": protocol["name"], "version": protocol["version"]},
        "method": {"name": request.method, "version": method_cls.version},
    }
    paths = [_result_path(request, protocol, job) for job in jobs]
    if request.resume:  # a stale finished result of the last job is refused before the first job trains
        for path in paths:
            if path.is_file():
                check_finished_result(path, expected)
    written = []
    for job, path in zip(jobs, paths):
        if request.resume and path.is_file():
            written.append(path)
            continue
        written.append(_run_job(request, protocol, profile, job, path))
    return written


CUSTOM_SUITE = "custom"  # a dataset the protocol does not list: the job is made from the protocol's rule


def own_dataset_job(protocol: dict, request: EvaluationRequest) -> dict:
    """The job a protocol runs on a built dataset it does not list (``--dataset mine``), so that any dataset
    evaluates without protocol YAML: ``known`` fits the method on it and evaluates on it; ``cross`` fits on
    ``--method-train-dataset`` and evaluates on it; ``frame`` fits, trains the action recognizer and takes the
    frame-labelled set from it (its test split, 60/40 as in the synthetic suite)."""
    name, other = request.dataset, request.method_train_dataset
    kind = protocol["name"]
    if kind == "cross":
        if other is None or other == name:
            raise VPBenchError(
                f"protocol 'cross' on your own dataset '{name}' needs --method-train-dataset NAME: another built "
                f"dataset to fit the method on"
            )
        return {"method_train": other, "evaluate": name}
    if other is not None and other != name:
        raise VPBenchError(
            f"protocol '{kind}' fits the method on the dataset it evaluates; drop --method-train-dataset"
        )
    if kind == "frame":
        info = load_info(Path(request.data_root) / name)
        if not info.get("files", {}).get("frame_labels"):
            raise VPBenchError(
                f"protocol 'frame' needs frame-level privacy labels: dataset '{name}' has none "
                f"(build it with --frame-labels)"
            )
        return {
            "method_train": name,
            "evaluate": name,
            "action_train": name,
            "frames": name,
            "frames_from_split": "test",
        }
    return {"method_train": name, "evaluate": name}


def _result_path(request: EvaluationRequest, protocol: dict, job: dict) -> Path:
    return Path(request.out) / protocol["name"] / job["evaluate"] / request.method / f"{request.run_id()}.json"


# The datasets a job reads, by the protocol's key for them.
_DATASET_ROLES = ("method_train", "evaluate", "action_train", "frames")


def _preflight(request: EvaluationRequest, protocol: dict, jobs: list[dict], profile: dict) -> EvaluationRequest:
    """Every check that needs no training and no decoding, for every job, before the first job starts:
    a bad argument found after an hour of training (or after a preview and a work folder were
    written) wastes the hour and leaves a half-made run behind. Returns the request with its method
    options checked (see :func:`vpbench.methods.check_options`)."""
    check_seed(request.seed)
    if request.holdout not in HOLDOUTS:
        raise VPBenchError(
            f"--holdout must be one of {', '.join(HOLDOUTS)}, not '{request.holdout}'"
            f"{did_you_mean(str(request.holdout), HOLDOUTS)}"
        )
    check_method_arguments(request.method, checkpoint=request.checkpoint, whole_frame=request.whole_frame)
    options = check_options(request.method, dict(request.method_options))
    method = create_method(request.method, **options)  # the constructor checks option ranges
    check_output_dir(request.out, "results folder")
    check_tensorboard(request.tensorboard)
    if request.checkpoint is not None:
        method.load(request.checkpoint)  # a truncated or foreign checkpoint fails now, not after decoding
    method_card(request.method, request.models_dir)
    if method.learned and request.checkpoint is None:  # a card without the profile, or settings the method refuses
        method.check_settings(method_settings(request.method, request.profile, request.models_dir))
    request = replace(request, method_options=options)
    fold = int(protocol.get("fold", 1))
    for job in jobs:
        for role in _DATASET_ROLES:
            if job.get(role):
                _check_dataset(request, protocol, job, role, fold, method, profile)
        if request.resume:
            check_work_dir(_result_path(request, protocol, job), _resume_settings(request, protocol, profile, job))
    return request


def _check_dataset(
    request: EvaluationRequest, protocol: dict, job: dict, role: str, fold: int, method: PrivacyMethod, profile: dict
) -> None:
    """A dataset of the job: its info.json and manifest readable, the split the job takes from it not empty, and
    room for what the run will write: the dataset's clip cache when it has none, the transformed videos in the
    run's work folder."""
    name = job[role]
    path = Path(request.data_root) / name
    # What the job reads (see _fit_or_load, _evaluate_job, _frame_protocol): the method-training set only to
    # fit a method; a frame job reads its evaluation set as the frame-labelled set.
    if role == "method_train":
        needed = method.learned and request.checkpoint is None
    else:
        needed = not (role == "evaluate" and "frames" in job)
    if not (path / "info.json").is_file():
        if not needed:
            return
        spec = DATASETS.get(name)
        if request.suite == "synth" and spec.synthetic:
            check_output_dir(path, f"folder of dataset '{name}' (built on first use)")
            return
        raise VPBenchError(
            f"{path}: dataset '{name}' is not built; run `vpbench build --dataset {name} --out {path} ...` first"
        )
    load_info(path)  # even when not needed: the result records the build seed of every dataset of the job
    if not needed:
        return
    manifest = load_manifest(path)
    # The frame protocol's real suite splits the frame-labelled set by its own first fold; the synthetic
    # suite takes one split of the action dataset's fold (see _frame_protocol).
    split_fold = 1 if role == "frames" and not job.get("frames_from_split") else fold
    train, held = _split_indices(manifest, split_fold, request.holdout)
    if role == "frames" and job.get("frames_from_split"):
        which = _frames_split(job, request)
        parts = {which: np.where(manifest[f"split_{fold}"] == which)[0]}
    elif role in ("method_train", "action_train"):
        parts = {"train": train}
    else:
        parts = {"train": train, request.holdout: held}
    for part, rows in parts.items():
        if len(rows) == 0:
            hint = " (build it with --val-share to carve one from train)" if part == "val" else ""
            raise VPBenchError(
                f"{path}: dataset '{name}' has no {part} video in fold {split_fold}{hint}; "
                f"protocol '{protocol['name']}' needs them (its {role.replace('_', ' ')} set)"
            )
    if role == "evaluate" and request.holdout in parts:
        _check_scorable(path, name, manifest, parts["train"], parts[request.holdout], request.holdout, split_fold)
    size, interval = tuple(profile["frame_size"]), frame_interval(profile, name)
    check_cache_space(path, size, interval)
    if role != "method_train" and not method.identity:
        rows = np.concatenate(list(parts.values()))
        check_free_space(
            Path(request.out),
            cache_bytes(manifest["num_frames"].iloc[rows], size, interval),
            f"the transformed videos of {name} (in the run's work folder, removed at the end)",
        )


def _check_scorable(path: Path, name: str, manifest, train, held, holdout: str, fold: int) -> None:
    """A dataset the recognizers can be scored on: every class of the held-out split has training videos, and the
    held-out split has privacy positives (without any, cMAP and F1 are undefined)."""
    untrained = sorted(set(manifest["action"].iloc[held]) - set(manifest["action"].iloc[train]))
    if untrained:
        raise VPBenchError(
            f"{path}: dataset '{name}' has {holdout} videos of class '{untrained[0]}' but no training video of it "
            f"in fold {fold}; the action recognizer cannot learn it"
        )
    if not manifest[list(ATTRIBUTES)].iloc[held].to_numpy().any():
        raise VPBenchError(
            f"{path}: dataset '{name}' has no privacy positive among its {holdout} videos in fold {fold} (no "
            f"attribute is present in any): privacy scores are undefined"
        )


def _frame_store(
    request: EvaluationRequest,
    timer: Timer,
    phase: str,
    dataset_dir: Path,
    rows: pd.DataFrame,
    profile: dict,
    interval: int,
    desc: str,
    **kw,
) -> FrameStore:
    """``rows`` of a dataset as a store over its clip cache at the profile's size: under torchrun rank 0 builds
    a missing cache while the others wait, then every rank reads the same file."""
    size = tuple(int(s) for s in profile["frame_size"])

    def load() -> FrameStore:
        if distributed.is_main():
            ensure_cache(dataset_dir, size, interval, progress=request.progress)
        distributed.barrier()
        return load_store(dataset_dir, rows, size, interval, progress=request.progress, desc=desc, **kw)

    return timer.run(phase, load)


def _file_name(video_id: str) -> str:
    """A video's file name without folder and extension: what HMDB51 and PA-HMDB51 share for one video."""
    return str(video_id).rsplit("/", 1)[-1]


def _fit_or_load(
    request: EvaluationRequest,
    method: PrivacyMethod,
    profile: dict,
    job: dict,
    data_root: Path,
    timer: Timer,
    ckpt_path: Path,
    fold: int,
    work: WorkDir,
    curves: Curves,
    held_out: frozenset[str] = frozenset(),
) -> dict:
    """Train a learned method on the method-training dataset's train split, less the videos whose file
    names are in ``held_out`` (or load a checkpoint)."""
    if not method.learned:
        return {"trained_on": None}
    if request.checkpoint is not None:
        timer.run("load_method", method.load, request.checkpoint)
        return {"trained_on": None, "checkpoint": str(request.checkpoint), **method.provenance()}
    train_dir = ensure_dataset(job["method_train"], data_root, request.suite, request.progress)
    manifest = load_manifest(train_dir)
    train_idx, _ = _split_indices(manifest, fold)
    rows = manifest.iloc[train_idx].reset_index(drop=True)
    rows, removed = _without(rows, held_out)
    interval = frame_interval(profile, job["method_train"])
    store = _frame_store(
        request, timer, "decode_method_train", train_dir, rows, profile, interval, f"decoding {job['method_train']}"
    )
    data = FitData(
        videos=[store.video_frames(i) for i in range(len(store))],
        actions=rows["action_index"].to_numpy(),
        privacy=rows[list(ATTRIBUTES)].to_numpy(np.float32),
        num_actions=int(manifest["action_index"].max()) + 1,
    )
    settings = method_settings(request.method, request.profile, request.models_dir)
    context = FitContext.of(
        profile, interval, seed=request.seed, progress=request.progress, checkpoint_dir=work.path, report=curves.fit_log
    )
    timer.run("fit_method", method.fit, data, settings, context)
    if distributed.is_main():
        timer.run("save_method", method.save, ckpt_path)
    info = {"trained_on": job["method_train"], "checkpoint": ckpt_path.name, **method.provenance()}
    info["settings"] = settings  # the resolved recipe of this fit: a result names the settings that made it
    if held_out:
        info["held_out_videos"] = removed
    return info


def _without(rows: pd.DataFrame, held_out: frozenset[str]) -> tuple[pd.DataFrame, int]:
    """``rows`` less the videos whose file names are in ``held_out``, and how many went."""
    if not held_out:
        return rows, 0
    keep = ~rows["video_id"].map(_file_name).isin(held_out)
    return rows[keep].reset_index(drop=True), int((~keep).sum())


def _run_job(request: EvaluationRequest, protocol: dict, profile: dict, job: dict, path: Path) -> Path:
    work = WorkDir(path, _resume_settings(request, protocol, profile, job), request.resume)
    try:
        return _evaluate_job(request, protocol, profile, job, path, work)
    except BaseException:
        # A failed or interrupted run keeps its checkpoints for --resume, not a folder with nothing to resume from.
        work.discard_if_empty()
        raise


def _evaluate_job(
    request: EvaluationRequest, protocol: dict, profile: dict, job: dict, path: Path, work: WorkDir
) -> Path:
    timer = Timer()
    t_start = time.perf_counter()
    commit = _git_hash()  # at the start: the code that runs, whatever the checkout moves to meanwhile
    data_root = Path(request.data_root)
    fold = int(protocol.get("fold", 1))
    method = create_method(request.method, **request.method_options)
    frame_set = _frame_set(request, protocol, job, fold) if "frames" in job else None
    # The frame protocol tests on the frame-labelled set; none of its videos may train the method or the recognizer.
    held_out = frame_set.names if frame_set is not None else frozenset()
    run_dir = "/".join(path.relative_to(request.out).with_suffix("").parts)
    curves = Curves(path, request.tensorboard, run_dir, resume=request.resume)
    method_info = _fit_or_load(
        request, method, profile, job, data_root, timer, path.with_suffix(".pt"), fold, work, curves, held_out
    )
    clip_len, crop = int(profile["clip_len"]), int(profile["crop"])
    views = protocol["test_views"]
    train_cfg = TrainConfig.from_dict({**profile["train"], "clip_len": clip_len, "crop": crop})
    eval_name = job["evaluate"]

    if frame_set is not None:
        result = _frame_protocol(
            request, protocol, profile, job, method, timer, train_cfg, fold, work, frame_set, path, curves
        )
        eval_info = result.pop("_eval_info")
    else:
        eval_dir = ensure_dataset(eval_name, data_root, request.suite, request.progress)
        manifest = load_manifest(eval_dir)
        train_idx, test_idx = _split_indices(manifest, fold, request.holdout)
        rows = manifest.iloc[np.concatenate([train_idx, test_idx])].reset_index(drop=True)
        n_train = len(train_idx)
        eval_interval = frame_interval(profile, eval_name)
        raw_store = _frame_store(
            request,
            timer,
            "decode",
            eval_dir,
            rows,
            profile,
            eval_interval,
            f"decoding {eval_name}",
            with_masks=method.needs_person_masks and not request.whole_frame,
        )
        store = _transform(request, timer, method, raw_store, clip_len, work.file(f"transformed-{eval_name}.npy"))
        # Raw above transformed for the first 3 test videos, for the leaderboard; never fails the run.
        if distributed.is_main():
            write_preview(
                preview_path(path), raw_store, store, range(n_train, min(n_train + 3, len(rows))), method.name
            )
        tr, te = np.arange(n_train), np.arange(n_train, len(rows))
        actions = rows["action_index"].to_numpy()
        privacy = rows[list(ATTRIBUTES)].to_numpy(np.float32)
        num_actions = int(manifest["action_index"].max()) + 1
        action_seed, privacy_seed = _recognizer_seed(request.seed, "action"), _recognizer_seed(request.seed, "privacy")
        action_model = _seeded_recognizer(action_seed, profile["action"], num_actions, clip_len, crop)
        privacy_model = _seeded_recognizer(privacy_seed, profile["privacy"], len(ATTRIBUTES), clip_len, crop)
        _train_videos(
            request, timer, work, action_model, store, tr, actions[tr], "action", train_cfg, action_seed, curves
        )
        _train_videos(
            request, timer, work, privacy_model, store, tr, privacy[tr], "privacy", train_cfg, privacy_seed, curves
        )
        a_probs = _test_videos(request, timer, work, action_model, store, te, "action", clip_len, crop, views)
        p_probs = _test_videos(request, timer, work, privacy_model, store, te, "privacy", clip_len, crop, views)
        result = timer.run(
            "score",
            _scores,
            a_probs,
            actions[te],
            p_probs,
            privacy[te].astype(np.int64),
            protocol,
            request.seed,
            _action_names(manifest),
        )
        # The frozen attackers and utility (see vpbench.evaluation.frozen), and how much of the raw picture is kept.
        frozen_scores, result["frozen"] = _frozen_video_scores(
            request, timer, work, method, protocol, profile, train_cfg, eval_dir, eval_interval, raw_store, store,
            tr, te, {"action": actions, "privacy": privacy}, {"action": action_model, "privacy": privacy_model},
            {"action": num_actions, "privacy": len(ATTRIBUTES)}, _action_names(manifest), curves,
        )  # fmt: skip
        result["scores"].update(frozen_scores)
        result["scores"].update(_fidelity_scores(timer, raw_store, store, te, protocol, request.seed))
        result["counts"] = {"train_videos": int(n_train), "test_videos": int(len(te))}
        eval_info = {"content_sha256": load_info(eval_dir)["content_sha256"], "holdout": request.holdout}

    timer.phases["total"] = round(time.perf_counter() - t_start, 3)
    method_entry = METHODS.entry(request.method)
    document = EvaluationResult(
        protocol={"name": protocol["name"], "version": protocol["version"], "suite": request.suite, "fold": fold},
        method={
            "name": method.name,
            "version": method.version,
            "origin": method_entry.origin,
            "learned": method.learned,
            "options": request.method_options,
            "deploy_options": list(method.deploy_options),
            **method_info,
        },
        dataset={"name": eval_name, "method_trained_on": job["method_train"], **eval_info},
        run=request.run_id(),
        seed=request.seed,
        randomness=_randomness(request, job, data_root),
        hardware=distributed.describe(),
        profile=request.profile,
        **result,
        config={
            "protocol": protocol,
            "profile": profile,
            "whole_frame": request.whole_frame,
            "job": job,
        },
        versions=_versions(),
        git=commit,
        wall_time_s=timer.phases,
        date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    ).to_dict()
    if distributed.is_main():  # every rank holds the same scores; one writes them
        atomic_write_json(path, document)
    curves.close()
    work.finish()
    return path


def _resume_settings(request: EvaluationRequest, protocol: dict, profile: dict, job: dict) -> dict:
    """Everything the checkpoints of one evaluation depend on: ``--resume`` refuses a work folder written
    under others."""
    return {
        "vpbench": __version__,
        "protocol": protocol,
        "profile": profile,
        "job": job,
        "suite": request.suite,
        "seed": request.seed,
        "whole_frame": request.whole_frame,
        "holdout": request.holdout,
        # A fit or a training resumed at another precision would mix two runs' numbers; the device may change.
        "precision": str(request.precision).lower(),
        "method": {
            "name": request.method,
            "version": METHODS.get(request.method).version,
            "options": request.method_options,
            "card": method_card(request.method, request.models_dir),
            "checkpoint": None if request.checkpoint is None else str(request.checkpoint),
        },
    }


def _randomness(request: EvaluationRequest, job: dict, data_root: Path) -> dict:
    """Every seed the run drew from, and what else decides its numbers on a CPU."""
    seeds = {
        "method_fit": request.seed,
        "action_recognizer": _recognizer_seed(request.seed, "action"),
        "privacy_recognizer": _recognizer_seed(request.seed, "privacy"),
        "bootstrap": request.seed,
    }
    if job.get("frames_from_split"):
        seeds["frame_split"] = request.seed
    datasets = {job[k] for k in ("method_train", "evaluate", "action_train", "frames") if job.get(k)}
    built = {
        name: load_info(data_root / name).get("seed")
        for name in sorted(datasets)
        if (data_root / name / "info.json").is_file()
    }
    return {
        "seed": request.seed,
        "seeds": seeds,
        "dataset_build_seeds": built,
        "generators": "numpy PCG64 seeded per phase (clips, crops, shuffling, bootstrap); torch CPU generator seeded "
        "per phase "
        "(weight init, dropout, Gumbel noise); checkpoints save and restore both",
        "torch_threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
    }


def _transform(
    request: EvaluationRequest, timer: Timer, method: PrivacyMethod, store: FrameStore, clip_len: int, out: Path
) -> FrameStore:
    """The method applied to every video of ``store`` (phase ``transform``), into the work file ``out``."""
    return timer.run(
        "transform",
        transform_store,
        method,
        store,
        clip_len,
        request.whole_frame,
        request.progress,
        f"transforming ({method.name})",
        out,
    )


def _train_videos(
    request: EvaluationRequest,
    timer: Timer,
    work: WorkDir,
    model,
    store: FrameStore,
    videos: np.ndarray,
    labels: np.ndarray,
    target: str,
    train_cfg: TrainConfig,
    seed: int,
    curves: Curves,
) -> None:
    """Train a video recognizer of ``target`` ("action" or "privacy"), checkpointed in the work folder."""
    timer.run(
        f"train_{target}",
        train_video_recognizer,
        model,
        store,
        videos,
        labels,
        target,
        train_cfg,
        seed,
        request.progress,
        f"training {target} recognizer",
        checkpoint=work.file(f"train_{target}.pt"),
        on_epoch=_epochs(curves, f"train/{target}"),
    )


def _epochs(curves: Curves, phase: str):
    """A recognizer training's per-epoch callback that adds its loss to the run's curves as ``phase``."""
    return lambda epoch, loss: curves.epoch(phase, epoch, loss=loss)


def _test_videos(
    request: EvaluationRequest,
    timer: Timer,
    work: WorkDir,
    model,
    store: FrameStore,
    videos: np.ndarray,
    target: str,
    clip_len: int,
    crop: int,
    views: dict,
    key: str | None = None,
) -> np.ndarray:
    """A video recognizer's test probabilities over the protocol's views, saved in the work folder (kept on resume)
    as ``key`` (default ``test_<target>``)."""
    desc = "testing actions" if target == "action" else f"testing {target}"
    if key is not None and key != f"test_{target}":
        desc += " (frozen)"
    return timer.run(
        "test",
        work.arrays,
        key or f"test_{target}",
        lambda: predict_videos(
            model, store, videos, target, clip_len, crop, views["clips"], views["crops"], request.progress, desc
        ),
    )


# One seed per recognizer role, offset from the run's seed so that the method's fit and the recognizers draw
# different streams. The frozen recognizers use the same seeds: for ``raw``, frozen and retrained are then one.
_RECOGNIZER_SEED_OFFSETS = {"action": 1, "privacy": 2, "frame_privacy": 2}


def _recognizer_seed(seed: int, target: str) -> int:
    """The seed of the recognizer of ``target`` (action, privacy or frame_privacy) in a run of ``seed``."""
    return seed + _RECOGNIZER_SEED_OFFSETS[target]


def _seeded_recognizer(seed: int, spec: dict, num_outputs: int, clip_len: int, crop: int):
    """A recognizer whose initial weights come from ``seed``, not from whatever ran before in the process."""
    torch.manual_seed(seed)
    return create_recognizer(spec, num_outputs, clip_len, crop)


def _frozen_recipe(
    dataset_dir: Path, store: FrameStore, videos, labels, spec: dict, cfg: TrainConfig, profile: dict, interval: int
) -> dict:
    """Everything a raw-trained recognizer depends on besides its seed and outputs (the key of its cache entry)."""
    recipe = {
        "dataset": load_info(dataset_dir)["content_sha256"],
        "videos": videos_digest(store.video_ids[int(i)] for i in videos),
        "labels": videos_digest(np.asarray(labels).reshape(len(labels), -1).tolist()),
        "spec": spec,
        "train": asdict(cfg),
        "frame_size": [int(v) for v in profile["frame_size"]],
        "frame_interval": int(interval),
    }
    if spec.get("weights"):  # a spec's pretrained weights file by content, not only by path
        recipe["weights_sha256"] = sha256_file(spec["weights"])
    return recipe


def _frozen_video_scores(
    request, timer, work, method, protocol, profile, train_cfg, dataset_dir, interval, raw_store, store, train, test,
    labels: dict, retrained: dict, outputs: dict, names, curves: Curves,
) -> tuple[dict, dict]:  # fmt: skip
    """The ``*_frozen`` scores: video recognizers of each target trained on the raw ``train`` videos of ``raw_store``
    (as ``raw`` trains them; cached) applied to the transformed ``test`` videos of ``store``; and where they are."""
    clip_len, crop = int(profile["clip_len"]), int(profile["crop"])
    probs, info = {}, {}
    for target in ("action", "privacy"):
        model, info[target] = _frozen_video_recognizer(
            request, timer, work, method, profile, train_cfg, dataset_dir, interval, raw_store, train,
            labels[target][train], target, outputs[target], retrained[target], curves,
        )  # fmt: skip
        probs[target] = _test_videos(
            request, timer, work, model, store, test, target, clip_len, crop, protocol["test_views"],
            key=f"test_frozen_{target}",
        )  # fmt: skip
    privacy = labels["privacy"][test].astype(np.int64)
    scores = _frozen_scores(
        probs["action"], labels["action"][test], probs["privacy"], privacy, protocol, request.seed, names
    )
    return scores, info


def _frozen_video_recognizer(
    request, timer, work, method, profile, train_cfg, dataset_dir, interval, raw_store, videos, labels,
    target: str, outputs: int, retrained, curves: Curves,
):  # fmt: skip
    """The video recognizer of ``target`` (action or privacy) trained on the raw ``videos`` of ``raw_store``, as
    ``raw`` trains it (cached: see :func:`_frozen_model`), and where it is kept."""
    clip_len, crop = int(profile["clip_len"]), int(profile["crop"])
    seed = _recognizer_seed(request.seed, target)
    recipe = _frozen_recipe(dataset_dir, raw_store, videos, labels, profile[target], train_cfg, profile, interval)
    return _frozen_model(
        request, timer, method, dataset_dir, target, {**recipe, "seed": seed, "outputs": outputs},
        lambda: _seeded_recognizer(seed, profile[target], outputs, clip_len, crop),
        lambda model: train_video_recognizer(
            model, raw_store, videos, labels, target, train_cfg, seed, request.progress,
            f"training {target} recognizer on raw videos (frozen)", work.file(f"frozen_{target}.pt"),
            _epochs(curves, f"train/{target} (raw, frozen)"),
        ),
        retrained,
    )  # fmt: skip


def _frozen_model(
    request: EvaluationRequest,
    timer: Timer,
    method: PrivacyMethod,
    dataset_dir: Path,
    target: str,
    recipe: dict,
    build,
    train,
    retrained,
):
    """The raw-trained recognizer of ``target`` and where it is kept. For an identity method (``raw``) it is the
    recognizer the run just trained (same videos, seed and recipe), kept in the cache if missing there; for
    any other method the cached one, or one ``build()``-t and ``train``-ed now and kept."""
    path = frozen_path(dataset_dir, target, recipe)
    model = retrained if method.identity else build()
    train_now = (lambda: None) if method.identity else (lambda: train(model))
    cached, _ = timer.run("frozen_recognizers", frozen_recognizer, path, model, train_now, recipe)
    return model, {"weights": str(path.relative_to(dataset_dir.parent)), "from_cache": cached}


def _frozen_scores(action_probs, action_labels, privacy_probs, privacy_labels, protocol, seed, names, groups=None):
    """The headline scores of the frozen recognizers, named ``<score>_frozen`` (same bootstrap resamples)."""
    scores = _scores(action_probs, action_labels, privacy_probs, privacy_labels, protocol, seed, names, groups)
    return {f"{k}_frozen": v for k, v in scores["scores"].items()}


def _fidelity_scores(timer: Timer, raw: FrameStore, transformed: FrameStore, videos, protocol: dict, seed: int) -> dict:
    """``fidelity_psnr`` (dB) and ``fidelity_ssim`` of the transformed test videos against raw, with bootstrap
    intervals over videos and the noise floor (``noise``) they are read against."""
    fid = timer.run("fidelity", video_fidelity, raw, transformed, np.asarray(videos), seed)
    boot = protocol.get("bootstrap", {})
    n_boot, level = int(boot.get("samples", 1000)), float(boot.get("level", 0.95))
    out = {}
    for name in ("psnr", "ssim"):
        values = fid[name]
        low, high = bootstrap_ci(lambda v: float(np.mean(v)), [values], n_boot, level, seed)
        value = float(np.mean(values))
        # Percentile intervals of a mean always hold it; min/max guard float rounding of a constant column.
        out[f"fidelity_{name}"] = {
            "value": value,
            "ci_low": min(low, value),
            "ci_high": max(high, value),
            "higher_is_better": None,  # more of the raw picture kept: better utility, worse privacy
            "noise": fid[f"noise_{name}"],
        }
    return out


@dataclass(frozen=True)
class FrameSet:
    """The frame-labelled videos of a frame-protocol job, split into the frame recognizer's train and test parts."""

    path: Path
    manifest: pd.DataFrame
    train: np.ndarray  # manifest rows
    test: np.ndarray

    @property
    def names(self) -> frozenset[str]:
        """File names of every video of the set: held out of the method's fit and the action recognizer's training."""
        rows = np.concatenate([self.train, self.test])
        return frozenset(_file_name(v) for v in self.manifest["video_id"].iloc[rows])


def _frame_set(request: EvaluationRequest, protocol: dict, job: dict, fold: int) -> FrameSet:
    frames_dir = ensure_dataset(job["frames"], Path(request.data_root), request.suite, request.progress)
    manifest = load_manifest(frames_dir)
    if job.get("frames_from_split"):
        # Synthetic suite: the frame-labelled set is a split of the action dataset, split 60/40 by seed.
        pool = np.where(manifest[f"split_{fold}"] == _frames_split(job, request))[0]
        order = np.random.default_rng(request.seed).permutation(pool)
        n_train = int(round(protocol.get("frame_split", {}).get("train_share", 0.6) * len(order)))
        return FrameSet(frames_dir, manifest, np.sort(order[:n_train]), np.sort(order[n_train:]))
    train, test = _split_indices(manifest, 1, request.holdout)
    return FrameSet(frames_dir, manifest, train, test)


def _frames_split(job: dict, request: EvaluationRequest) -> str:
    """The split a synthetic frame job draws its frame-labelled set from: the protocol's (test), or val in a
    ``--holdout val`` run."""
    which = job["frames_from_split"]
    return request.holdout if which == "test" else which


def _frame_protocol(
    request, protocol, profile, job, method, timer, train_cfg, fold, work, frame_set: FrameSet, path: Path, curves
) -> dict:
    """Frame-level protocol: HMDB51-trained action recognizer + 2D frame-privacy recognizer on PA-HMDB51 60/40."""
    data_root = Path(request.data_root)
    clip_len, crop = int(profile["clip_len"]), int(profile["crop"])
    views = protocol["test_views"]
    action_dir = ensure_dataset(job["action_train"], data_root, request.suite, request.progress)
    action_manifest = load_manifest(action_dir)
    a_train, _ = _split_indices(action_manifest, fold)
    frames_manifest, f_train, f_test = frame_set.manifest, frame_set.train, frame_set.test
    action_index = {a: int(i) for a, i in zip(action_manifest["action"], action_manifest["action_index"])}
    unknown = sorted(set(frames_manifest["action"].iloc[f_test]) - set(action_index))
    if unknown:
        raise VPBenchError(f"{frame_set.path}: actions {unknown[:3]} are not classes of {job['action_train']}")
    interval = frame_interval(profile, job["action_train"])
    needs_masks = method.needs_person_masks and not request.whole_frame
    a_rows, a_removed = _without(action_manifest.iloc[a_train].reset_index(drop=True), frame_set.names)
    f_rows = frames_manifest.iloc[np.concatenate([f_train, f_test])].reset_index(drop=True)
    a_store = _frame_store(
        request,
        timer,
        "decode",
        action_dir,
        a_rows,
        profile,
        interval,
        f"decoding {job['action_train']}",
        with_masks=needs_masks,
    )
    f_store = _frame_store(
        request,
        timer,
        "decode",
        frame_set.path,
        f_rows,
        profile,
        frame_interval(profile, job["frames"]),
        f"decoding {job['frames']}",
        with_masks=needs_masks,
        with_frame_labels=True,
    )
    raw_a_store, raw_f_store = a_store, f_store
    a_store = _transform(request, timer, method, a_store, clip_len, work.file(f"transformed-{job['action_train']}.npy"))
    f_store = _transform(
        request, timer, method, f_store, clip_len, work.file(f"transformed-{job['frames']}-frames.npy")
    )
    num_actions = int(action_manifest["action_index"].max()) + 1
    action_seed, frame_seed = _recognizer_seed(request.seed, "action"), _recognizer_seed(request.seed, "frame_privacy")
    action_model = _seeded_recognizer(action_seed, profile["action"], num_actions, clip_len, crop)
    a_train_videos = np.arange(len(a_rows))
    _train_videos(
        request,
        timer,
        work,
        action_model,
        a_store,
        a_train_videos,
        a_rows["action_index"].to_numpy(),
        "action",
        train_cfg,
        action_seed,
        curves,
    )
    frame_model = _seeded_recognizer(frame_seed, profile["frame_privacy"], len(ATTRIBUTES), clip_len, crop)
    frame_cfg = TrainConfig.from_dict({**profile["frame_train"], "clip_len": 1, "crop": crop})
    n_ft = len(f_train)
    timer.run(
        "train_frame_privacy",
        train_frame_recognizer,
        frame_model,
        f_store,
        np.arange(n_ft),
        frame_cfg,
        frame_seed,
        request.progress,
        checkpoint=work.file("train_frame_privacy.pt"),
        on_epoch=_epochs(curves, "train/frame_privacy"),
    )
    test_videos = np.arange(n_ft, len(f_rows))
    a_probs = _test_videos(request, timer, work, action_model, f_store, test_videos, "action", clip_len, crop, views)
    a_labels = f_rows["action"].iloc[test_videos].map(action_index).to_numpy()
    p_probs, p_labels, owner = timer.run(
        "test",
        work.arrays,
        "test_frame_privacy",
        lambda: predict_frames(frame_model, f_store, test_videos, crop, views["crops"]),
    )
    result = timer.run(
        "score",
        _scores,
        a_probs,
        a_labels,
        p_probs,
        p_labels,
        protocol,
        request.seed,
        _action_names(action_manifest),
        owner,
    )
    result["bootstrap"]["unit"] = "test videos (action; privacy: each resampled video brings all its frames)"

    # The frozen attackers and utility: the action recognizer and the frame-privacy recognizer trained on raw videos
    # (as raw trains them; cached), applied to the transformed test videos.
    frozen_action, info_action = _frozen_video_recognizer(
        request, timer, work, method, profile, train_cfg, action_dir, interval, raw_a_store, a_train_videos,
        a_rows["action_index"].to_numpy(), "action", num_actions, action_model, curves,
    )  # fmt: skip
    f_train_labels = np.concatenate([raw_f_store.video_frame_labels(i) for i in range(n_ft)]) if n_ft else np.zeros(0)
    f_recipe = _frozen_recipe(
        frame_set.path, raw_f_store, np.arange(n_ft), f_train_labels, profile["frame_privacy"], frame_cfg, profile,
        frame_interval(profile, job["frames"]),
    )  # fmt: skip
    frozen_frames, info_frames = _frozen_model(
        request, timer, method, frame_set.path, "frame_privacy",
        {**f_recipe, "seed": frame_seed, "outputs": len(ATTRIBUTES)},
        lambda: _seeded_recognizer(frame_seed, profile["frame_privacy"], len(ATTRIBUTES), clip_len, crop),
        lambda model: train_frame_recognizer(
            model, raw_f_store, np.arange(n_ft), frame_cfg, frame_seed, request.progress,
            "training frame privacy on raw videos (frozen)", checkpoint=work.file("frozen_frame_privacy.pt"),
            on_epoch=_epochs(curves, "train/frame_privacy (raw, frozen)"),
        ),
        frame_model,
    )  # fmt: skip
    fa_probs = _test_videos(
        request, timer, work, frozen_action, f_store, test_videos, "action", clip_len, crop, views,
        key="test_frozen_action",
    )  # fmt: skip
    fp_probs, fp_labels, f_owner = timer.run(
        "test",
        work.arrays,
        "test_frozen_frame_privacy",
        lambda: predict_frames(frozen_frames, f_store, test_videos, crop, views["crops"]),
    )
    result["scores"].update(
        _frozen_scores(
            fa_probs, a_labels, fp_probs, fp_labels, protocol, request.seed, _action_names(action_manifest), f_owner
        )
    )
    result["scores"].update(_fidelity_scores(timer, raw_f_store, f_store, test_videos, protocol, request.seed))
    result["frozen"] = {"action": info_action, "frame_privacy": info_frames}
    result["counts"] = {
        "action_train_videos": int(len(a_rows)),
        "frame_train_videos": int(n_ft),
        "test_videos": int(len(test_videos)),
        "test_frames": int(len(p_labels)),
        # Videos of the frame-labelled set found (by file name) in the action dataset's train split, and left out.
        "held_out_of_action_train": a_removed,
    }
    result["_eval_info"] = {
        "content_sha256": load_info(frame_set.path)["content_sha256"],
        "action_trained_on": job["action_train"],
        "holdout": request.holdout,
    }
    return result
