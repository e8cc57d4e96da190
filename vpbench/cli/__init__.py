"""The `vpbench` command line: a thin layer over the Python API.

User mistakes (a :class:`VPBenchError`) print one line and exit 2; ``--debug``
shows the traceback instead. A command stopped by Ctrl-C exits 130 and one
stopped by SIGTERM 143, each after one line and after its cleanup ran, so that
a script or CI never takes an interrupted command for a finished one.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Optional

import typer

from .. import __version__
from ..core.errors import VPBenchError
from .epilog import examples

app = typer.Typer(
    name="vpbench",
    help="Benchmark toolkit for video-level privacy-preserving action recognition.\n\n"
    "Build VP-HMDB51 / VP-UCF101 / PA-HMDB51 (or the embedded VP-Synth), evaluate privacy-removal "
    "methods under the known / cross / frame protocols, and anonymize videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vpbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    _state["debug"] = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


# Option callbacks shared by the commands (``typer.Option(..., callback=positive_int)``). Typer's own
# ``min=`` prints a usage block of several lines; these fail like every user error, in one line, while
# the arguments are parsed (before any command starts).
def positive_int(param: typer.CallbackParam, value: Optional[int]) -> Optional[int]:
    """An optional count that must be at least 1 (``--workers``)."""
    if value is not None and value < 1:
        raise VPBenchError(f"{param.opts[0]} must be at least 1, got {value}")
    return value


def non_negative_int(param: typer.CallbackParam, value: Optional[int]) -> Optional[int]:
    """A seed: a non-negative integer (``--seed``; numpy's generators refuse a negative one, late)."""
    if value is not None and value < 0:
        raise VPBenchError(f"{param.opts[0]} must be a non-negative integer, got {value}")
    return value


@app.command(
    epilog=examples(
        "vpbench build --dataset synth-hmdb51 --out data/synth-hmdb51",
        "vpbench build --dataset synth-ucf101 --out /tmp/tiny --size tiny --seed 3",
        "vpbench build --dataset vp-hmdb51 --raw hmdb51/ --splits testTrainMulti_7030_splits/ --labels "
        "hmdb51_privacy_attribute_label.pickle --out data/vp-hmdb51",
        "vpbench build --dataset vp-ucf101 --raw UCF-101/ --splits ucfTrainTestlist/ --labels export1.json --labels "
        "export2.json --label-format labelstudio --out data/vp-ucf101",
        "vpbench build --dataset pa-hmdb51 --raw hmdb51/ --labels PrivacyAttributes/ --out data/pa-hmdb51",
        "vpbench build --dataset manifest --manifest my_videos.csv --out data/mine",
        "vpbench build --dataset vp-hmdb51 ... --val-share 0.2      (a val split to tune on: evaluate --holdout val)",
    )
)
def build(
    dataset: str = typer.Option(
        ...,
        "--dataset",
        "-d",
        help="synth-hmdb51, synth-ucf101, vp-hmdb51, vp-ucf101, pa-hmdb51, manifest (or a plugin's).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset directory to write."),
    raw: Optional[Path] = typer.Option(None, "--raw", help="Folder of raw videos in the dataset's layout."),
    splits: Optional[Path] = typer.Option(
        None, "--splits", help="Split files: HMDB51 *_test_split<k>.txt folder or UCF101 ucfTrainTestlist."
    ),
    labels: Optional[list[Path]] = typer.Option(None, "--labels", help="Label file(s); repeat for several exports."),
    label_format: Optional[str] = typer.Option(
        None, "--label-format", help="labelstudio, csv, stprivacy-pickle or pa-hmdb51 (default: from the file name)."
    ),
    label_order: Optional[str] = typer.Option(
        None,
        "--label-order",
        help="Attribute of each label column, e.g. "
        "skin_color,face,gender,nudity,relationship (STPrivacy pickle default).",
    ),
    manifest: Optional[Path] = typer.Option(None, "--manifest", help="CSV/parquet manifest for --dataset manifest."),
    frame_labels: Optional[Path] = typer.Option(
        None, "--frame-labels", help="Per-frame labels in PA-HMDB51's JSON format."
    ),
    boxes: Optional[Path] = typer.Option(None, "--boxes", help="Person boxes CSV: video_id,frame,person,x0,y0,x1,y1."),
    size: str = typer.Option("default", "--size", help="VP-Synth size: tiny or default."),
    seed: int = typer.Option(0, "--seed", help="Seed of VP-Synth and of PA-HMDB51's 60/40 split."),
    strict: bool = typer.Option(False, "--strict", help="Fail if any input is skipped (default: report it and go on)."),
    tie_policy: str = typer.Option(
        "positive", "--tie-policy", help="A tied vote counts as 'positive' (identifiable; default) or 'negative'."
    ),
    min_frames: int = typer.Option(
        16, "--min-frames", help="Videos with fewer decodable frames are skipped (one clip)."
    ),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes for probing videos (default: all cores)."),
    val_share: Optional[float] = typer.Option(
        None,
        "--val-share",
        help="Share of each action's train videos moved to the val split (seeded by --seed; what "
        "`evaluate --holdout val` scores). Default: 0.2 for VP-Synth, 0 (the published splits) for the others.",
    ),
) -> None:
    """Build a dataset directory (manifest.parquet, info.json, build_report.json)."""
    from ..data.builder import build_dataset
    from ..data.summary import format_summary, summarize_dataset

    result = build_dataset(
        dataset,
        out,
        raw=raw,
        splits=splits,
        labels=labels or (),
        label_format=label_format,
        label_order=label_order,
        frame_labels=frame_labels,
        boxes=boxes,
        manifest=manifest,
        size=size,
        seed=seed,
        strict=strict,
        tie_policy=tie_policy,
        min_frames=min_frames,
        workers=workers,
        val_share=val_share,
    )
    typer.echo(format_summary(summarize_dataset(result.out)))
    for fold in result.report["unusable_folds"]:
        typer.echo(f"  warning: {fold}: `vpbench evaluate` cannot use that fold")
    if result.report["skipped"]:
        typer.echo(f"  {len(result.report['skipped'])} input(s) skipped: see {result.out / 'build_report.json'}")
    typer.echo(f"  written to {result.out}")


@app.command(
    epilog=examples(
        "vpbench info data/synth-hmdb51",
        "vpbench info data/vp-hmdb51 --verify      (also hash every video)",
        note="Every run checks that info.json and the manifest agree and that every video is there with its built "
        "size; a mismatch is an error (exit 2).",
    )
)
def info(
    dataset_dir: Path = typer.Argument(..., help="A built dataset directory."),
    verify: bool = typer.Option(False, "--verify", help="Also hash every video against the manifest's sha256."),
) -> None:
    """Print the summary of a built dataset, after checking it is intact."""
    from ..data.summary import format_summary, summarize_dataset
    from ..data.verify import verify_dataset

    verify_dataset(dataset_dir, hashes=verify)
    typer.echo(format_summary(summarize_dataset(dataset_dir)))
    if verify:
        typer.echo("  every video matches its sha256")


@app.command(
    epilog=examples(
        "vpbench cache data/synth-hmdb51                      (the cpu profile's frame size and interval)",
        "vpbench cache data/vp-ucf101 --profile paper",
        "vpbench cache data/mine --frame-size 128 160 --interval 2",
        note=(
            "Later `vpbench evaluate` runs read frames from the cache instead of decoding every video. The cache is "
            "tied to the dataset's content hash, frame size and interval: after a rebuild that changed any video, "
            "evaluate refuses the stale cache until you run this again."
        ),
    )
)
def cache(
    dataset_dir: Path = typer.Argument(..., help="A built dataset directory."),
    profile: str = typer.Option(
        "cpu", "--profile", help="Take frame size and interval from this recognizer profile (models/recognizers.yaml)."
    ),
    frame_size: Optional[tuple[int, int]] = typer.Option(
        None, "--frame-size", help="Frame height and width instead of the profile's."
    ),
    interval: Optional[int] = typer.Option(
        None, "--interval", help="Keep every k-th frame instead of the profile's interval for this dataset."
    ),
    models_dir: Optional[Path] = typer.Option(None, "--models-dir", help="Your own model card folder."),
    workers: Optional[int] = typer.Option(
        None, "--workers", callback=positive_int, help="Decoding processes (default: all cores)."
    ),
) -> None:
    """Decode every video of a built dataset once into its clip cache (DATASET_DIR/cache/; `vpbench evaluate`
    builds a missing one itself)."""
    from ..core.config import frame_interval, recognizer_profile
    from ..data.builder import load_info
    from ..data.frames.cache import build_cache

    name = load_info(dataset_dir)["name"]
    settings = recognizer_profile(profile, models_dir)
    size = tuple(frame_size) if frame_size else tuple(settings["frame_size"])
    step = interval if interval is not None else frame_interval(settings, name)
    path = build_cache(dataset_dir, size, step, workers=workers)
    total = sum(f.stat().st_size for f in path.iterdir())
    typer.echo(f"{name}: clip cache {size[0]}x{size[1]} every {step} frame(s), {total / 2**20:.1f} MiB in {path}")


@app.command(epilog=examples("vpbench datasets"))
def datasets() -> None:
    """List the datasets `vpbench build` knows, with their origin."""
    from ..data.datasets import DATASETS

    for entry in DATASETS.entries():
        typer.echo(f"{entry.name:<14} {entry.obj.layout:<10} {entry.origin:<10} {entry.obj.description}")


def _parse_options(pairs: list[str] | None) -> dict:
    """``--option key=value`` pairs; values parsed as YAML scalars (numbers, booleans, strings)."""
    import yaml

    options = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise VPBenchError(f"--option takes key=value, got '{pair}'")
        key, value = pair.split("=", 1)
        options[key.strip()] = yaml.safe_load(value)
    return options


@app.command(
    epilog=examples(
        "vpbench evaluate --method raw --protocol known --suite synth",
        "vpbench evaluate --method blackening --protocol known --dataset synth-hmdb51 --profile cpu --seed 1",
        "vpbench evaluate --method raw --protocol cross --suite synth --out results/",
        "vpbench evaluate --method downsample-4x --protocol frame --suite real --data-root data/ --profile paper",
        "vpbench evaluate --method stprivacy --protocol known --dataset synth-hmdb51",
        "vpbench evaluate --method stprivacy --protocol known --dataset synth-hmdb51 --checkpoint "
        "results/known/synth-hmdb51/stprivacy/cpu-seed0.pt --keep-ratio 0.2",
        "vpbench evaluate --method vita --protocol known --dataset synth-hmdb51 --holdout val   (tune on val)",
        "vpbench evaluate --method blackening --protocol known --dataset mine --data-root data/   (your own dataset)",
        "vpbench evaluate --method vita --protocol cross --method-train-dataset synth-ucf101 --dataset mine",
        "vpbench evaluate --method stprivacy --protocol known --dataset synth-hmdb51 --tensorboard runs/  "
        "(then: tensorboard --logdir runs/)",
        note="Each result also scores recognizers trained once on raw videos and frozen (the *_frozen scores) and "
        "the transformed test videos' PSNR and SSIM against raw (see docs/leaderboard.md).",
    )
)
def evaluate(
    method: str = typer.Option(..., "--method", "-m", help="A registered method (see `vpbench methods`)."),
    protocol: str = typer.Option(..., "--protocol", "-p", help="known, cross or frame (see `vpbench protocols`)."),
    suite: str = typer.Option(
        "synth", "--suite", help="synth (VP-Synth) or real (built VP-HMDB51 / VP-UCF101 / PA-HMDB51)."
    ),
    dataset: Optional[str] = typer.Option(
        None, "--dataset", "-d", help="Evaluate on this dataset only (default: every one of the suite)."
    ),
    data_root: Path = typer.Option(
        Path("data"),
        "--data-root",
        help="Folder of built datasets, one subfolder per dataset name; missing VP-Synth datasets are built there.",
    ),
    profile: str = typer.Option(
        "cpu",
        "--profile",
        help="Recognizer and method settings: cpu (two cores, minutes), paper (the published settings, for a GPU) "
        "or spact (SPAct's torchvision R3D-18 / ResNet-50 recognizers; learned methods need --checkpoint).",
    ),
    seed: int = typer.Option(0, "--seed", callback=non_negative_int, help="Seed of every random choice of the run."),
    out: Path = typer.Option(
        Path("results"), "--out", help="Results folder: <out>/<protocol>/<dataset>/<method>/<run>.json."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Keep finished results (refusing ones of another protocol "
        "version) and continue interrupted evaluations from their last epoch checkpoint (<run>.work/).",
    ),
    checkpoint: Optional[Path] = typer.Option(
        None, "--checkpoint", help="A learned method's trained state (.pt) instead of training it."
    ),
    whole_frame: bool = typer.Option(
        False,
        "--whole-frame",
        help="Box-based methods act on the whole frame (only when asked: missing boxes are an error).",
    ),
    keep_ratio: Optional[float] = typer.Option(
        None,
        "--keep-ratio",
        help="Alias of --option keep_ratio=R: "
        "STPrivacy's deployment keep ratio (with --checkpoint: a sweep needs no retraining).",
    ),
    option: Optional[list[str]] = typer.Option(
        None, "--option", help="Method option key=value (repeatable), e.g. alpha=1.0, use_pab=false, delta_t=4."
    ),
    protocols_dir: Optional[Path] = typer.Option(None, "--protocols-dir", help="Your own protocol YAML folder."),
    models_dir: Optional[Path] = typer.Option(None, "--models-dir", help="Your own model card folder."),
    device: str = typer.Option(
        "auto",
        "--device",
        help="auto (the GPU when there is one; under torchrun each rank "
        "its LOCAL_RANK GPU), cpu, cuda or cuda:K: every training and prediction loop.",
    ),
    precision: str = typer.Option(
        "fp32",
        "--precision",
        help="fp32, or bf16 (autocast around forward passes; the CPU and GPUs of compute capability 8.0+).",
    ),
    holdout: str = typer.Option(
        "test",
        "--holdout",
        help="The split scored: test (the default; what the leaderboard shows) or val (train on train, score val: "
        "for choosing settings; no test video is read). The run is named <profile>-seed<k>-val.",
    ),
    method_train_dataset: Optional[str] = typer.Option(
        None,
        "--method-train-dataset",
        help="With a --dataset the protocol does not list (any built dataset): the dataset the method is fitted "
        "on, for protocol cross (known and frame fit on --dataset itself).",
    ),
    tensorboard: Optional[Path] = typer.Option(
        None,
        "--tensorboard",
        help="Also write the training curves (every fit stage and recognizer, per epoch) as TensorBoard events "
        "under this folder (pip install 'vpbench[tensorboard]'). <run>.curves.csv/.png are always written.",
    ),
) -> None:
    """Evaluate a method under a protocol and write result JSONs."""
    from ..evaluation.runner import EvaluationRequest
    from ..evaluation.runner import evaluate as run
    from ..results import load_result_file

    options = _parse_options(option)
    if keep_ratio is not None:
        options["keep_ratio"] = keep_ratio
    request = EvaluationRequest(
        method=method,
        protocol=protocol,
        suite=suite,
        dataset=dataset,
        data_root=data_root,
        profile=profile,
        seed=seed,
        out=out,
        resume=resume,
        checkpoint=checkpoint,
        whole_frame=whole_frame,
        method_options=options,
        protocols_dir=protocols_dir,
        models_dir=models_dir,
        device=device,
        precision=precision,
        holdout=holdout,
        tensorboard=tensorboard,
        method_train_dataset=method_train_dataset,
    )
    from ..core import distributed

    for path in run(request):
        if not distributed.is_main():
            continue
        r = load_result_file(path)
        top1, cmap = r.action_top1, r.privacy_cmap
        typer.echo(
            f"{r.protocol_name:<6} {r.dataset_name:<14} {r.method_name:<14} "
            f"top-1 {top1.value:.3f} [{top1.ci_low:.3f}, {top1.ci_high:.3f}]  "
            f"F1 {r.privacy_f1.value:.3f}  cMAP {cmap.value:.2f} [{cmap.ci_low:.2f}, {cmap.ci_high:.2f}]  -> {path}"
        )
        frozen_top1, frozen_cmap = r.optional_score("action_top1_frozen"), r.optional_score("privacy_cmap_frozen")
        ssim = r.scores.get("fidelity_ssim")
        if frozen_top1 is not None and frozen_cmap is not None and ssim is not None:
            typer.echo(
                f"{'':<36} frozen: top-1 {frozen_top1.value:.3f}  cMAP {frozen_cmap.value:.2f}  "
                f"SSIM {ssim['value']:.3f} (noise {ssim['noise']:.3f})  [{r.holdout}]"
            )


@app.command(
    epilog=examples(
        "vpbench leaderboard --results results/ --out leaderboard/",
        "vpbench leaderboard --results demo-out/results --out demo-out/leaderboard",
        "vpbench leaderboard --results results/ --out site/ --models-dir my-models/",
        note=(
            "Ranking: Pareto front of (top-1 up, cMAP down) first, then later fronts; within a front by top-1 % minus "
            "cMAP %. Re-running on the same results rewrites identical .md and .csv files."
        ),
    )
)
def leaderboard(
    results: Path = typer.Option(
        Path("results"),
        "--results",
        "-r",
        help="Results folder of `vpbench evaluate` (<protocol>/<dataset>/<method>/<run>.json).",
    ),
    out: Path = typer.Option(
        Path("leaderboard"), "--out", "-o", help="Folder for leaderboard.md, .csv, .html, trade-off plots and previews."
    ),
    models_dir: Optional[Path] = typer.Option(
        None, "--models-dir", help="Your own model card folder (for the paper-reported numbers)."
    ),
    protocols_dir: Optional[Path] = typer.Option(
        None, "--protocols-dir", help="Your own protocol YAML folder (results must match its versions)."
    ),
) -> None:
    """Build the leaderboard (markdown, CSV, self-contained HTML, trade-off plots) from result JSONs."""
    from ..leaderboard import write_leaderboard

    written = write_leaderboard(results, out, models_dir, protocols_dir)
    for path in written:
        if path.suffix != ".png":
            typer.echo(f"wrote {path}")
    typer.echo(f"  plus {sum(p.suffix == '.png' for p in written)} image(s) in {out}")


@app.command(
    epilog=examples(
        "vpbench anonymize --method stprivacy --checkpoint results/known/synth-hmdb51/stprivacy/cpu-seed0.pt in.mp4 "
        "out.mp4",
        "vpbench anonymize --method stprivacy --checkpoint model.pt --keep-ratio 0.2 in.avi out.avi",
        "vpbench anonymize --method strongblur --boxes person_boxes.csv in.mp4 out.mp4",
        "vpbench anonymize --method downsample-4x in.mp4 out.mp4",
    )
)
def anonymize(
    src: Path = typer.Argument(..., help="Input video (any length and size)."),
    dst: Path = typer.Argument(..., help="Output video (.avi, .mp4, .mkv or .mov): same frame count and frame rate."),
    method: str = typer.Option(..., "--method", "-m", help="A registered method (see `vpbench methods`)."),
    checkpoint: Optional[Path] = typer.Option(
        None, "--checkpoint", help="Trained state of a learned method (.pt from `vpbench evaluate`)."
    ),
    keep_ratio: Optional[float] = typer.Option(
        None,
        "--keep-ratio",
        help="Alias of --option keep_ratio=R: "
        "STPrivacy's share of tubelets kept (default alpha^3); lower = more privacy.",
    ),
    boxes: Optional[Path] = typer.Option(
        None,
        "--boxes",
        help="Person boxes CSV (frame,x0,y0,x1,y1; pixels, x1/y1 "
        "exclusive) for box-based methods; a box that cannot act is an error naming its line.",
    ),
    whole_frame: bool = typer.Option(False, "--whole-frame", help="Box-based methods act on the whole frame."),
    allow_empty_boxes: bool = typer.Option(
        False,
        "--allow-empty-boxes",
        help="Accept a --boxes file with no box at all (the output then equals the input).",
    ),
    option: Optional[list[str]] = typer.Option(None, "--option", help="Method option key=value (repeatable)."),
    device: str = typer.Option(
        "auto", "--device", help="auto (the GPU when there is one), cpu, cuda or cuda:K: where the method runs."
    ),
) -> None:
    """Anonymize one video with a (trained) method, streaming (memory does not grow with the video's length).

    Prints and records in OUTPUT.json the share of pixels the method changed.
    """
    from ..apps.anonymize import anonymize_video, format_share
    from ..core import distributed

    distributed.configure(device)  # a GPU this machine lacks is a one-line error before any decoding
    options = _parse_options(option)
    if keep_ratio is not None:
        options["keep_ratio"] = keep_ratio
    done = anonymize_video(
        method,
        src,
        dst,
        checkpoint=checkpoint,
        options=options,
        boxes=boxes,
        whole_frame=whole_frame,
        allow_empty_boxes=allow_empty_boxes,
    )
    share = done["changed_share"]
    typer.echo(
        f"{done['output']}: {done['frames']} frames at {done['fps']:.3g} fps, {done['width']}x{done['height']} "
        f"({method}), "
        f"{format_share(share)} of pixels changed; record in {done['record']}"
    )
    if share == 0 and method != "raw":
        typer.echo(f"warning: '{method}' changed no pixel: the output is the input, re-encoded", err=True)


@app.command(
    epilog=examples(
        "vpbench view data/synth-hmdb51",
        "vpbench view data/synth-hmdb51 --results results/known/synth-hmdb51/stprivacy/cpu-seed0.json",
        "vpbench view data/synth-hmdb51 --results results/known/synth-hmdb51/blackening --no-app --name synth-black",
        "vpbench view data/vp-hmdb51 --port 5252   (then: ssh -L 5252:127.0.0.1:5252 HOST, open http://localhost:5252)",
        note="Needs the fiftyone extra: pip install 'vpbench[fiftyone]'.",
    )
)
def view(
    dataset_dir: Path = typer.Argument(..., help="A built dataset directory."),
    results: Optional[Path] = typer.Option(
        None,
        "--results",
        "-r",
        help="A result JSON of `vpbench evaluate` (or a "
        "folder holding exactly one for this dataset): its method's test videos become a group slice beside 'raw'.",
    ),
    no_app: bool = typer.Option(
        False, "--no-app", help="Build the FiftyOne dataset and exit, without launching the App."
    ),
    name: Optional[str] = typer.Option(
        None,
        "--name",
        help="FiftyOne dataset name (default: "
        "vpbench-<dataset>[-<protocol>-<method>-<run>]); an existing one is replaced.",
    ),
    media_dir: Optional[Path] = typer.Option(
        None,
        "--media-dir",
        help="Where the App-playable (H.264) and transformed videos go (default: DATASET_DIR/fiftyone-media).",
    ),
    port: int = typer.Option(5151, "--port", help="App port, served on 127.0.0.1 only."),
) -> None:
    """Browse a built dataset (labels, votes, person boxes) and a method's output in the FiftyOne App."""
    from ..apps.view import build_view, launch

    built = build_view(dataset_dir, results=results, name=name, media_dir=media_dir)
    slices = f", group slices {', '.join(built.slices)}" if built.slices else ""
    typer.echo(f"FiftyOne dataset '{built.name}': {built.samples} samples{slices}; videos in {built.media_dir}")
    if not no_app:
        launch(built, port=port, echo=typer.echo)


@app.command(epilog=examples("vpbench methods"))
def methods() -> None:
    """List the registered methods: name, version, origin, description."""
    from ..methods import METHODS

    for entry in METHODS.entries():
        cls = entry.obj
        kind = "learned" if cls.learned else "fixed"
        typer.echo(f"{entry.name:<14} v{cls.version:<4} {kind:<8} {entry.origin:<16} {cls.description}")


@app.command(epilog=examples("vpbench protocols"))
def protocols(
    protocols_dir: Optional[Path] = typer.Option(None, "--protocols-dir", help="Your own protocol YAML folder."),
) -> None:
    """List the protocols with their version and datasets per suite."""
    from ..core.config import load_protocol, protocol_names

    for name in protocol_names(protocols_dir):
        spec = load_protocol(name, protocols_dir)
        suites = "; ".join(f"{s}: " + ", ".join(j["evaluate"] for j in jobs) for s, jobs in spec["suites"].items())
        typer.echo(f"{name:<6} v{spec['version']}  {spec.get('description', '')}  ({suites})")


from .annotate import annotate_app  # noqa: E402 - registered after the top-level commands

app.add_typer(annotate_app, name="annotate")


class Terminated(BaseException):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt, so that ``finally`` blocks and
    ``except BaseException`` cleanups run (atomic writes remove their temporaries, a build its staging
    folder). A BaseException, not an Exception: no ``except Exception`` on the way may swallow it."""


# Exit codes of a command stopped by a signal: 128 + the signal number, as a shell reports it.
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


def main(argv: list[str] | None = None) -> None:
    """The ``vpbench`` console script: exits with the command's code (0, 2 for a user error, 130 after
    Ctrl-C, 143 after SIGTERM)."""
    import multiprocessing

    signals = _Signals()
    children = set(multiprocessing.active_children())
    try:
        code = _run(argv, signals)
    except Terminated:  # arrived while an error was being reported
        code = _stopped(EXIT_SIGTERM)
    finally:
        signals.restore()
    if code == 0 and signals.undelivered:
        # A signal Python dropped where it arrived (see _Signals) that the command outran: it still asked to stop.
        code = _stopped(EXIT_SIGTERM if signal.SIGTERM in signals.undelivered else EXIT_SIGINT)
    if code in (EXIT_SIGINT, EXIT_SIGTERM):
        _end_children(set(multiprocessing.active_children()) - children)
    if code:
        sys.exit(code)


def _end_children(children: set, grace_s: float = 2.0) -> None:
    """Stop the workers an interrupted command left behind. A worker pool whose shutdown the signal cut
    short can leave a worker waiting for work that never comes, and Python joins every such child at
    exit: the command would never end. SIGTERM first; SIGKILL for one that outlives the grace period
    (a signal that reached a just-forked child before its handlers were set up is lost)."""
    import time

    for child in children:
        child.terminate()
    deadline = time.monotonic() + grace_s
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            child.kill()
            child.join()


def _run(argv: list[str] | None, signals: _Signals) -> int:
    try:
        returned = app(args=argv, standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):  # Abort: Ctrl-C (or end of input) at a prompt
        return _stopped(EXIT_SIGINT)
    except Terminated:
        return _stopped(EXIT_SIGTERM)
    except Exception as exc:
        if signals.received and not _state["debug"]:
            # An error raised once a signal arrived is its consequence (a worker pool that the same Ctrl-C
            # stopped under the command): the signal is what to report, not a traceback.
            return _stopped(EXIT_SIGTERM if signal.SIGTERM in signals.received else EXIT_SIGINT)
        if isinstance(exc, VPBenchError):
            if _state["debug"]:
                raise
            typer.echo(f"error: {exc}", err=True)
            return 2
        if isinstance(exc, typer.Exit):
            return exc.exit_code
        if isinstance(exc, _usage_error_types()):
            exc.show()
            return exc.exit_code
        raise
    # standalone_mode=False: Typer returns what would have been the exit code instead of exiting. It turns
    # Ctrl-C inside a command into a returned 130, and a `raise typer.Exit(n)` into n; commands return None.
    if isinstance(returned, int) and not isinstance(returned, bool) and returned != 0:
        return _stopped(EXIT_SIGINT) if returned == EXIT_SIGINT else returned
    return 0


def _stopped(code: int) -> int:
    """Report a signal in one line (whatever the command was printing) and return its exit code."""
    typer.echo("interrupted" if code == EXIT_SIGINT else "terminated", err=True)
    return code


class _Signals:
    """While a command runs: SIGINT raises KeyboardInterrupt (as Python's default does) and SIGTERM raises
    :class:`Terminated`, in the main thread, so that cleanups run. Two cases where a raise would not stop
    the command are handled:

    - Python drops an exception raised where it cannot propagate (a ``__del__``, a weakref callback, the
      fork hooks that run each time a worker pool forks) and only prints "Exception ignored in". The
      command would go on to the end and exit 0. Such a signal is delivered again a moment later.
    - A main thread that blocks the signal (``pthread_sigmask`` around a few steps that must not be split,
      see vpbench.core.atomic.signals_held) still receives it when another thread (a torch or tqdm thread)
      took it from the OS. It waits until the main thread unblocks it.

    Under torchrun everything stays as Python has it: torchrun stops its ranks with SIGTERM when one
    fails, and a rank waiting in a collective runs no Python handler until the collective times out;
    torchrun would wait out its grace period and then SIGKILL it. The default action ends it at once.
    """

    RETRY_S = 0.02

    def __init__(self) -> None:
        self.received: set[int] = set()
        self.undelivered: set[int] = set()
        self._restore: list = []
        if "TORCHELASTIC_RUN_ID" in os.environ:
            return
        self._owner = os.getpid()
        self._terminating = False
        try:
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._restore.append((signum, signal.signal(signum, self._handler)))
        except ValueError:  # main() called outside the main thread: signals stay as they are
            self.restore()
            return
        self._hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable

    def restore(self) -> None:
        for signum, previous in reversed(self._restore):
            signal.signal(signum, previous)
        if self._restore:
            sys.unraisablehook = self._hook
        self._restore = []

    def _handler(self, signum: int, frame) -> None:
        if os.getpid() != self._owner:
            # A forked worker (a decoding pool) inherits the handler. Ctrl-C reaches the whole process group:
            # the command stops in the main process, which cancels the pool's pending work; a worker that
            # died of it instead would break the pool under the command. SIGTERM (a pool's own way to stop
            # its workers) ends the worker as it ends any process.
            if signum == signal.SIGTERM:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            return
        self.received.add(signum)
        if self._held(signum):
            self._later(signum)
            return
        self.undelivered.discard(signum)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        if self._terminating:
            return  # a second SIGTERM waits for the cleanup the first one started (SIGKILL still ends everything)
        self._terminating = True
        raise Terminated()

    def _unraisable(self, unraisable) -> None:
        if os.getpid() == self._owner and isinstance(unraisable.exc_value, (KeyboardInterrupt, Terminated)):
            terminated = isinstance(unraisable.exc_value, Terminated)
            self._terminating = self._terminating and not terminated
            self._later(signal.SIGTERM if terminated else signal.SIGINT)
            return
        self._hook(unraisable)

    @staticmethod
    def _held(signum: int) -> bool:
        try:
            return signum in signal.pthread_sigmask(signal.SIG_BLOCK, [])
        except (AttributeError, OSError, ValueError):  # no POSIX thread signal masks
            return False

    def _later(self, signum: int) -> None:
        """Deliver ``signum`` to the main thread again shortly, from a helper thread."""
        import _thread
        import threading

        self.undelivered.add(signum)

        def again() -> None:
            if self._restore and signum in self.undelivered:
                _thread.interrupt_main(signum)

        timer = threading.Timer(self.RETRY_S, again)
        timer.daemon = True
        timer.start()


def _usage_error_types() -> tuple[type, ...]:
    """Click's usage errors (no such option, missing argument): Typer >= 0.2x vendors Click as
    ``typer._click`` and older Typer uses the ``click`` package; either may be the one raising."""
    types = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            types.append(__import__(module, fromlist=["ClickException"]).ClickException)
        except ImportError:
            pass
    return tuple(types)


if __name__ == "__main__":
    main()
