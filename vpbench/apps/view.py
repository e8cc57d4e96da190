"""`vpbench view`: look at a built dataset, and one method's output beside it, in FiftyOne.

One FiftyOne sample per video: the action (``Classification``), each privacy
attribute as its own ``Classification`` ("yes"/"no", confidence = share of
annotators who agree with the label, plus the vote counts and the tie flag),
``privacy`` (the positive attributes as ``Classifications``), the splits,
and per frame the person boxes (``persons``, ``Detections`` in [0, 1]) and
per-frame privacy labels where the dataset has them. With a result JSON the
dataset is grouped: slice ``raw`` holds every video and a slice named after
the method holds that method's transform of the test videos of the result's
fold, made with :func:`vpbench.apps.anonymize.anonymize_video` (learned methods
load the ``.pt`` checkpoint beside the JSON).

Browsers play H.264 MP4, not the MPEG-4 Part 2 AVI of HMDB51/UCF101/VP-Synth,
so the App gets H.264 copies in a media folder (default
``DATASET_DIR/fiftyone-media``), made once and reused while their source is
unchanged. FiftyOne is optional (``pip install 'vpbench[fiftyone]'``) and is
imported only here, inside functions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.atomic import atomic_write_json
from ..core.attributes import ATTRIBUTES
from ..core.errors import VPBenchError
from ..core.files import sha256_file
from ..data.builder import load_info, load_manifest

INSTALL_HINT = "pip install 'vpbench[fiftyone]'"
RAW_SLICE = "raw"
MEDIA_DIRNAME = "fiftyone-media"
_STAMP = "sources.json"
# Codecs every current browser decodes inside an MP4; anything else is re-encoded.
_PLAYABLE = {"h264"}


def import_fiftyone():
    """``import fiftyone``, or a one-line error telling how to install it."""
    # Set before FiftyOne reads its config: a privacy toolkit sends no usage data unless the user opts in.
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    try:
        import fiftyone
    except ImportError as exc:
        raise VPBenchError(f"FiftyOne is not installed ({exc}); install it with: {INSTALL_HINT}") from None
    if not hasattr(fiftyone, "Dataset"):  # only fiftyone-db or -brain left: `fiftyone` is an empty namespace
        raise VPBenchError(f"FiftyOne is not installed (only parts of it are); install it with: {INSTALL_HINT}")
    # FiftyOne prints through its own handlers; passed on to the CLI's root handler too, each line shows twice.
    for name in ("fiftyone", "eta"):
        logging.getLogger(name).propagate = False
    return fiftyone


# --- results -------------------------------------------------------------------------------------


def _read_result(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or "schema_version" not in doc or not isinstance(doc.get("method"), dict):
        return None
    return doc


def find_result(path: str | os.PathLike, info: dict) -> tuple[Path, dict]:
    """The result JSON ``path``, or the one result for this dataset under the folder ``path``."""
    path = Path(path)
    sha = info["content_sha256"]
    if path.is_file():
        doc = _read_result(path)
        if doc is None:
            raise VPBenchError(f"{path}: not a result file of `vpbench evaluate`")
        if doc.get("dataset", {}).get("content_sha256") != sha:
            raise VPBenchError(
                f"{path}: evaluated on '{doc.get('dataset', {}).get('name')}', not on this dataset "
                f"('{info['name']}', content {sha[:12]}); pass a result of this dataset"
            )
        return path, doc
    if not path.is_dir():
        raise VPBenchError(f"{path}: no such result file or folder")
    found = []
    for p in sorted(path.rglob("*.json")):
        doc = _read_result(p)
        if doc is not None and doc.get("dataset", {}).get("content_sha256") == sha:
            found.append((p, doc))
    if not found:
        raise VPBenchError(f"{path}: no result of `vpbench evaluate` for dataset '{info['name']}' (content {sha[:12]})")
    if len(found) > 1:
        names = ", ".join(str(p) for p, _ in found[:3]) + (", ..." if len(found) > 3 else "")
        raise VPBenchError(f"{path}: {len(found)} results for '{info['name']}' ({names}); pass one JSON file")
    return found[0]


def _checkpoint(result_path: Path, doc: dict) -> Path | None:
    """A learned method's trained state: the ``.pt`` beside the JSON, else the one the result names."""
    method = doc["method"]
    if not method.get("learned"):
        return None
    beside = result_path.with_suffix(".pt")
    if beside.is_file():
        return beside
    named = method.get("checkpoint")
    for candidate in [result_path.parent / named, Path(named)] if named else []:
        if candidate.is_file():
            return candidate
    raise VPBenchError(
        f"{result_path}: method '{method['name']}' is learned and its checkpoint {beside.name} is not beside the result"
    )


# --- media ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Media:
    path: Path
    num_frames: int
    fps: float
    width: int
    height: int
    codec: str


def encode_h264(src: Path, dst: Path) -> Media:
    """Re-encode ``src`` as H.264 MP4 (yuv420p, even size), every decodable frame, same frame rate."""
    from ..data.video import iter_video, probe_video, write_video_windows

    fps = probe_video(src, verify=False).fps or 25.0
    # yuv420p needs even sides: repeat the last row/column rather than crop a pixel off.
    windows = iter_video(src, 16)
    even = (np.pad(w, ((0, 0), (0, w.shape[1] % 2), (0, w.shape[2] % 2), (0, 0)), mode="edge") for w in windows)
    write_video_windows(dst, even, fps=fps, codec="h264")
    return probe_media(dst)


def probe_media(path: Path) -> Media:
    from ..data.video import probe_video

    info = probe_video(path, verify=False)
    return Media(path, info.num_frames, info.fps, info.width, info.height, info.codec)


class _MediaFolder:
    """A folder of App-playable videos, each remembered with the digest of what it was made from."""

    def __init__(self, root: Path):
        self.root = root
        try:
            self.sources: dict = json.loads((root / _STAMP).read_text())
        except (OSError, ValueError):
            self.sources = {}  # none yet, or unreadable: every video is made again

    def target(self, video_id: str) -> Path:
        return self.root / f"{video_id}.mp4"

    def fresh(self, video_id: str, digest: str) -> Media | None:
        path = self.target(video_id)
        if self.sources.get(video_id) == digest and path.is_file():
            return probe_media(path)
        return None

    def made(self, video_id: str, digest: str) -> None:
        self.sources[video_id] = digest

    def save(self) -> None:
        atomic_write_json(self.root / _STAMP, self.sources)


def playable_raw(
    dataset_dir: Path, manifest: pd.DataFrame, media_root: Path, progress: bool = True
) -> dict[str, Media]:
    """Each raw video as the App can play it: the file itself when it is H.264 MP4, else a copy."""
    from ..core.progress import Progress

    folder = _MediaFolder(media_root / RAW_SLICE)
    out = {}
    try:
        for row in Progress(
            manifest.itertuples(index=False),
            total=len(manifest),
            desc="raw videos for the App",
            unit="video",
            disable=not progress,
        ):
            src = (dataset_dir / row.path).resolve()
            if row.codec in _PLAYABLE and src.suffix.lower() == ".mp4":
                out[row.video_id] = Media(
                    src, int(row.num_frames), float(row.fps), int(row.width), int(row.height), row.codec
                )
                continue
            media = folder.fresh(row.video_id, row.sha256)
            if media is None:
                media = encode_h264(src, folder.target(row.video_id))
                folder.made(row.video_id, row.sha256)
            out[row.video_id] = media
    finally:
        folder.save()
    return out


def transformed(
    dataset_dir: Path, manifest: pd.DataFrame, result_path: Path, doc: dict, media_root: Path, progress: bool = True
) -> dict[str, Media]:
    """The result's method applied to the test videos of its fold, as App-playable copies."""
    from ..core.progress import Progress
    from ..methods import METHODS
    from .anonymize import anonymize_video

    method = doc["method"]
    fold = int(doc.get("protocol", {}).get("fold", 1))
    column = f"split_{fold}" if f"split_{fold}" in manifest.columns else "split_1"
    rows = manifest[manifest[column] == "test"]
    checkpoint = _checkpoint(result_path, doc)
    whole_frame = bool(doc.get("config", {}).get("whole_frame", False))
    boxes = _boxes_table(dataset_dir)
    if METHODS.get(method["name"]).needs_person_masks and boxes is None and not whole_frame:
        raise VPBenchError(
            f"{dataset_dir}: method '{method['name']}' needs person boxes and the dataset has none (boxes.parquet)"
        )
    # The method's output depends on the result (its options, its checkpoint) and on the source video.
    key = sha256_file(result_path) + (sha256_file(checkpoint) if checkpoint else "")
    folder = _MediaFolder(
        media_root
        / doc.get("protocol", {}).get("name", "results")
        / method["name"]
        / str(doc.get("run", result_path.stem))
    )
    out = {}
    with tempfile.TemporaryDirectory(prefix="vpbench-view-") as tmp:
        tmp = Path(tmp)
        try:
            for row in Progress(
                rows.itertuples(index=False),
                total=len(rows),
                desc=f"transforming ({method['name']})",
                unit="video",
                disable=not progress,
            ):
                digest = hashlib.sha256((key + row.sha256).encode()).hexdigest()
                media = folder.fresh(row.video_id, digest)
                if media is None:
                    box_csv = None
                    # anonymize refuses boxes a method does not use (and --whole-frame likewise).
                    uses_boxes = METHODS.get(method["name"]).needs_person_masks
                    if uses_boxes and boxes is not None and not whole_frame:
                        box_csv = tmp / "boxes.csv"
                        boxes[boxes["video_id"] == row.video_id][["frame", "x0", "y0", "x1", "y1"]].to_csv(
                            box_csv, index=False
                        )
                    anonymized = tmp / "anonymized.avi"
                    anonymize_video(
                        method["name"],
                        dataset_dir / row.path,
                        anonymized,
                        checkpoint=checkpoint,
                        options=method.get("options") or {},
                        boxes=box_csv,
                        whole_frame=whole_frame and uses_boxes,
                        progress=False,
                    )
                    media = encode_h264(anonymized, folder.target(row.video_id))
                    folder.made(row.video_id, digest)
                out[row.video_id] = media
        finally:
            folder.save()
    return out


# --- FiftyOne ------------------------------------------------------------------------------------


def _boxes_table(dataset_dir: Path) -> pd.DataFrame | None:
    path = dataset_dir / "boxes.parquet"
    return pd.read_parquet(path) if path.is_file() else None


def _frame_labels_table(dataset_dir: Path) -> pd.DataFrame | None:
    path = dataset_dir / "frame_labels.parquet"
    return pd.read_parquet(path) if path.is_file() else None


def _by_video(table: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    return {} if table is None else {vid: group for vid, group in table.groupby("video_id", sort=False)}


def _sample(
    fo,
    media: Media,
    row,
    split_cols: list[str],
    boxes: pd.DataFrame | None,
    frame_labels: pd.DataFrame | None,
    source: Path,
):
    s = fo.Sample(filepath=str(media.path))
    s.metadata = fo.VideoMetadata(
        size_bytes=media.path.stat().st_size,
        mime_type="video/mp4" if media.path.suffix == ".mp4" else None,
        frame_width=media.width,
        frame_height=media.height,
        frame_rate=media.fps,
        total_frame_count=media.num_frames,
        duration=media.num_frames / media.fps if media.fps else None,
        encoding_str=media.codec,
    )
    s["video_id"] = row["video_id"]
    s["source"] = str(source)
    s["action"] = fo.Classification(label=row["action"])
    for a in ATTRIBUTES:
        yes, votes = int(row[f"{a}_yes"]), int(row[f"{a}_votes"])
        label = int(row[a])
        agree = (yes if label else votes - yes) / votes if votes else None
        s[a] = fo.Classification(
            label="yes" if label else "no", confidence=agree, yes_votes=yes, votes=votes, tie=bool(row[f"{a}_tie"])
        )
    s["privacy"] = fo.Classifications(classifications=[fo.Classification(label=a) for a in ATTRIBUTES if int(row[a])])
    s["annotators"] = int(row["annotators"])
    for c in split_cols:
        s[c] = row[c]
    # Boxes are in the source's pixels; normalizing by the source size keeps them right on a padded copy.
    w, h = float(row["width"]), float(row["height"])
    frames: dict[int, dict] = {}
    if boxes is not None:
        for b in boxes.itertuples(index=False):
            x0, y0 = max(b.x0, 0) / w, max(b.y0, 0) / h
            x1, y1 = min(b.x1 / w, 1.0), min(b.y1 / h, 1.0)
            if x1 <= x0 or y1 <= y0:
                continue
            det = fo.Detection(label="person", bounding_box=[x0, y0, x1 - x0, y1 - y0], index=int(b.person))
            frames.setdefault(int(b.frame), {}).setdefault("persons", []).append(det)
    if frame_labels is not None:
        for f in frame_labels.itertuples(index=False):
            frames.setdefault(int(f.frame), {})["privacy"] = [a for a in ATTRIBUTES if int(getattr(f, a))]
    for number, fields in frames.items():
        frame = fo.Frame()
        if "persons" in fields:
            frame["persons"] = fo.Detections(detections=fields["persons"])
        if "privacy" in fields:
            frame["privacy"] = fo.Classifications(
                classifications=[fo.Classification(label=a) for a in fields["privacy"]]
            )
        s.frames[number + 1] = frame  # FiftyOne numbers frames from 1
    return s


def default_name(info: dict, doc: dict | None = None) -> str:
    name = f"vpbench-{info['name']}"
    if doc is not None:
        name += (
            f"-{doc.get('protocol', {}).get('name', 'results')}-{doc['method']['name']}-{doc.get('run', '')}".rstrip(
                "-"
            )
        )
    return name


@dataclass
class ViewResult:
    dataset: object  # fiftyone.Dataset
    name: str
    samples: int
    slices: list[str]
    media_dir: Path


def build_view(
    dataset_dir: str | os.PathLike,
    results: str | os.PathLike | None = None,
    name: str | None = None,
    media_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> ViewResult:
    """Build (or rebuild, under the same name) the persistent FiftyOne dataset of ``dataset_dir``."""
    dataset_dir = Path(dataset_dir)
    info = load_info(dataset_dir)
    manifest = load_manifest(dataset_dir)
    result_path, doc = find_result(results, info) if results is not None else (None, None)
    fo = import_fiftyone()
    _check_database(fo)
    media_root = Path(media_dir) if media_dir is not None else dataset_dir / MEDIA_DIRNAME
    raw_media = playable_raw(dataset_dir, manifest, media_root, progress)
    method_media = transformed(dataset_dir, manifest, result_path, doc, media_root, progress) if doc is not None else {}

    split_cols = sorted((c for c in manifest.columns if c.startswith("split_")), key=lambda c: int(c.split("_")[1]))
    boxes, frame_labels = _by_video(_boxes_table(dataset_dir)), _by_video(_frame_labels_table(dataset_dir))
    name = name or default_name(info, doc)
    ds = _new_dataset(fo, name)
    slice_name = doc["method"]["name"] if doc is not None else None
    if slice_name == RAW_SLICE:
        slice_name = f"{RAW_SLICE}-method"  # the method called "raw" must not collide with the source slice
    if slice_name is not None:
        ds.add_group_field("group", default=RAW_SLICE)

    def samples():  # one at a time: a large dataset's frame labels need not all be in memory at once
        for row in manifest.to_dict("records"):
            vid, source = row["video_id"], (dataset_dir / row["path"]).resolve()
            group = fo.Group() if slice_name is not None else None
            for slice_, media in ((RAW_SLICE, raw_media[vid]), (slice_name, method_media.get(vid))):
                if media is not None:
                    s = _sample(fo, media, row, split_cols, boxes.get(vid), frame_labels.get(vid), source)
                    if group is not None:
                        s["group"] = group.element(slice_)
                    yield s

    count = len(raw_media) + len(method_media)
    ds.add_samples(samples(), num_samples=count, progress=bool(progress))
    ds.info = {
        "vpbench": {
            "dataset": info["name"],
            "dataset_dir": str(dataset_dir.resolve()),
            "content_sha256": info["content_sha256"],
            "tie_policy": info.get("tie_policy"),
            "fleiss_kappa": info.get("agreement", {}).get("fleiss_kappa", {}),
            # A list, not a dict: annotator ids (e-mails) may hold dots, which database keys may not.
            "annotators": [
                {"annotator": k, **v} for k, v in sorted(info.get("agreement", {}).get("annotators", {}).items())
            ],
            "privacy_labels": "yes = identifiable/present by majority vote; confidence = share of annotators agreeing",
        },
        **(
            {
                "result": {
                    "file": str(result_path.resolve()),
                    "method": doc["method"],
                    "scores": doc.get("scores"),
                    "protocol": doc.get("protocol"),
                    "slice": slice_name,
                }
            }
            if doc is not None
            else {}
        ),
    }
    # Checked in the App's sidebar by default: the grid then reads "action | positive attributes" plus
    # boxes; the per-attribute fields (labels with votes) are one click away.
    ds.app_config.active_fields = fo.ActiveFields(
        paths=[p for p in ("action", "privacy", "frames.persons", "frames.privacy") if ds.has_field(p)]
    )
    ds.description = f"vpbench: {info['name']}" + (f" with {doc['method']['name']} ({doc.get('run')})" if doc else "")
    ds.save()
    slices = [RAW_SLICE, slice_name] if slice_name is not None else []
    return ViewResult(ds, name, count, slices, media_root)


def _check_database(fo) -> None:
    """Reach FiftyOne's database now, before any video work; trouble there is one line."""
    import fiftyone.core.config as focfg
    import fiftyone.core.service as fos
    import pymongo.errors

    try:
        fo.list_datasets()
    # FiftyOne reports a missing mongod, one it could not start, reach or accept (too old) with these.
    except (
        focfg.FiftyOneConfigError,
        fos.ServiceException,
        pymongo.errors.PyMongoError,
        ConnectionError,
        RuntimeError,
    ) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VPBenchError(
            f"FiftyOne's database is not reachable ({first[:160]}); on Linux x86-64 {INSTALL_HINT} brings one, "
            "or set FIFTYONE_DATABASE_URI to a MongoDB server"
        ) from None


def _new_dataset(fo, name: str):
    """A persistent dataset ``name``; an old one of that name is replaced."""
    try:
        return fo.Dataset(name, persistent=True, overwrite=True)
    except ValueError as exc:  # an unusable name, e.g. one whose URL slug another dataset has
        raise VPBenchError(f"--name '{name}': {str(exc).strip().splitlines()[0][:200]}") from None


def launch(view: ViewResult, port: int = 5151, echo=print) -> None:
    """Serve the App on loopback (reach it through an SSH tunnel when remote) until Ctrl-C."""
    fo = import_fiftyone()
    session = fo.launch_app(view.dataset, remote=True, address="127.0.0.1", port=port, auto=False)
    echo(f"FiftyOne App at {session.url} (loopback only); Ctrl-C stops it")
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        pass
