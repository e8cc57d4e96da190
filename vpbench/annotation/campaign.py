"""An annotation campaign on a Label Studio server: push videos, pull the export, follow progress.

The three operations behind ``vpbench annotate push|pull|status``:

- :func:`push` makes (or finds, by title) a project with vpbench's labeling
  config and ``overlap`` annotations per task, gives it a *local-files storage*
  on the folder that holds the videos, and imports one task per video
  (``data.video_id``, ``data.video``) that the project does not have yet.
  Videos are served by Label Studio from where they lie, not uploaded: the
  benchmarks are gigabytes, an upload would copy every file into Label
  Studio's media folder, and a task URL keeps naming the very file vpbench
  builds from. The price: the server must run where the videos are, with
  ``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and
  ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`` set to a parent of the folder.
- :func:`pull` saves the project's full JSON export (every task and
  annotation, cancelled ones included) atomically.
- :func:`status` reads that same export through the importer that
  ``vpbench build`` uses and reports coverage, per-annotator counts, Fleiss'
  kappa so far and the videos whose majority is a tie.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath

from ..core.atomic import atomic_write_bytes
from ..core.attributes import ATTRIBUTES
from ..core.errors import VPBenchError, did_you_mean
from .labelstudio import LabelStudio, LabelStudioError, local_file_url

__all__ = ["PushResult", "PullResult", "Status", "push", "pull", "status", "dataset_videos", "labeling_config"]

IMPORT_BATCH = 500  # tasks per import request: large imports are split so no request runs for minutes
TITLE_LIMITS = (3, 50)  # what Label Studio accepts for a project title


def labeling_config() -> str:
    """vpbench's Label Studio labeling config (annotation/labeling-config.xml)."""
    return (resources.files("vpbench") / "resources" / "annotation" / "labeling-config.xml").read_text(encoding="utf-8")


def _guidelines_html() -> str:
    """The annotator guidelines as the project's instructions (shown in the editor), kept as plain text."""
    path = resources.files("vpbench") / "resources" / "annotation" / "GUIDELINES.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    return f'<div style="white-space: pre-wrap">{html.escape(text)}</div>'


# --------------------------------------------------------------------------- the videos


@dataclass(frozen=True)
class _Videos:
    folder: Path  # absolute (symlinks kept: Label Studio compares paths as text)
    files: dict[str, str]  # video_id -> path relative to folder ('/'-separated)
    skipped: tuple[str, ...] = ()  # files that cannot become tasks (names that are not UTF-8)


def dataset_videos(dataset: str | os.PathLike) -> _Videos:
    """The videos of a built dataset (its manifest) or of a raw video folder (every video file under it)."""
    from ..data.layouts import list_videos, video_key

    root = Path(os.path.abspath(dataset))
    if not root.is_dir():
        raise VPBenchError(f"{dataset}: no such folder (give a built dataset or a folder of videos)")
    if (root / "manifest.parquet").is_file() and (root / "info.json").is_file():
        from ..data.builder import load_manifest

        manifest = load_manifest(root)
        paths = [PurePosixPath(p) for p in manifest["path"]]
        # The builder puts every video under <dataset>/raw (a folder or a link to the raw tree).
        if not paths or any(p.parts[0] != "raw" for p in paths):
            raise VPBenchError(f"{dataset}: manifest paths do not all start with raw/; rebuild the dataset")
        files = {vid: str(p.relative_to("raw")) for vid, p in zip(manifest["video_id"], paths)}
        return _Videos(root / "raw", dict(sorted(files.items())))
    found = list_videos(root)
    if not found:
        raise VPBenchError(f"{dataset}: no video files under this folder (and it is not a built dataset)")
    files: dict[str, str] = {}
    skipped = []
    for rel in found:
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:  # os.walk keeps undecodable bytes as surrogates; JSON tasks cannot carry them
            skipped.append(os.fsencode(rel).decode("utf-8", "backslashreplace"))
            continue
        key = video_key(rel)
        if key in files:
            raise VPBenchError(f"{dataset}: {files[key]} and {rel} would both be video '{key}'; keep one")
        files[key] = rel
    if not files:
        raise VPBenchError(f"{dataset}: no video file with a UTF-8 name under this folder; rename them")
    return _Videos(root, files, tuple(skipped))


# --------------------------------------------------------------------------- projects


def _check_title(title: str) -> str:
    text = (title or "").strip()
    low, high = TITLE_LIMITS
    if not low <= len(text) <= high or not text.isprintable():
        raise VPBenchError(f"--project must be {low} to {high} printable characters, got {title!r}")
    return text


def find_project(client: LabelStudio, title: str) -> dict | None:
    """The project with exactly this title; None if there is none; an error if several share it."""
    title = _check_title(title)
    matches = [p for p in client.projects() if str(p.get("title", "")).strip() == title]
    if len(matches) > 1:
        ids = ", ".join(str(p.get("id")) for p in matches)
        raise VPBenchError(
            f"{client.where} has {len(matches)} projects titled '{title}' (ids {ids}); rename all but one"
        )
    return matches[0] if matches else None


def _require_project(client: LabelStudio, title: str) -> dict:
    project = find_project(client, title)
    if project is None:
        titles = sorted({str(p.get("title", "")) for p in client.projects()})
        listing = ", ".join(f"'{t}'" for t in titles[:10]) if titles else "none"
        raise VPBenchError(
            f"{client.where} has no project titled '{title.strip()}'{did_you_mean(title.strip(), titles)}; "
            f"projects: {listing}{' ...' if len(titles) > 10 else ''} (`vpbench annotate push` creates it)"
        )
    return project


def _choice_names(config: str) -> list[str]:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(config)
    except ET.ParseError:
        return []
    return [c.get("name", "") for c in root.iter("Choices")]


# --------------------------------------------------------------------------- push


@dataclass
class PushResult:
    project_id: int
    project_url: str
    created: bool
    videos: int
    imported: int
    already: int
    other_tasks: int
    storage_id: int
    storage_path: str
    document_root: str
    notes: list[str] = field(default_factory=list)


def _storage(client: LabelStudio, project_id: int, folder: Path) -> dict:
    wanted = os.path.normpath(str(folder))
    for storage in client.local_storages(project_id):
        if os.path.normpath(str(storage.get("path") or "")) == wanted:
            return storage
    try:
        return client.create_local_storage(
            {
                "project": project_id,
                "path": wanted,
                "title": "vpbench videos",
                "use_blob_urls": True,
                "description": "Added by vpbench annotate push: serves the videos, never synced (vpbench imports the "
                "tasks).",
            }
        )
    except LabelStudioError as exc:
        if exc.status == 400:
            raise VPBenchError(
                f"{exc} -- the server needs LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and "
                f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT set to a parent folder of {wanted}, on the machine holding "
                f"the videos"
            ) from None
        raise


def _document_root(client: LabelStudio, folder: Path, sample: str, given: str | os.PathLike | None) -> Path:
    """The server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT, found by asking it for one video.

    Task URLs name a video relative to that root, which no API reports; each
    ancestor of the video folder is tried (one small ranged request each) and
    the one under which the server serves the video is it. ``given`` is checked
    the same way.
    """
    video = folder / sample
    candidates = [Path(os.path.abspath(given))] if given is not None else list(reversed(folder.parents))
    statuses = []
    for root in candidates:
        try:
            relative = video.relative_to(root)
        except ValueError:
            raise VPBenchError(f"--document-root {given} is not a parent of the video folder {folder}") from None
        status = client.serves_local_file(relative.as_posix())
        statuses.append(status)
        if status in (200, 206):
            return root
    if 403 in statuses:
        raise VPBenchError(
            f"{client.where} does not serve local files: start it with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true"
        )
    where = f"under --document-root {given}" if given is not None else "under any parent folder"
    raise VPBenchError(
        f"{client.where} does not serve {video} {where}: run the server on the machine holding the videos, with "
        f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT set to a parent folder of {folder}"
    )


def push(
    client: LabelStudio,
    dataset: str | os.PathLike,
    project: str,
    *,
    overlap: int = 3,
    document_root: str | os.PathLike | None = None,
) -> PushResult:
    """Create or update the project and import the videos it does not have yet (see the module docstring)."""
    if overlap < 1:
        raise VPBenchError(f"--overlap must be at least 1, got {overlap}")
    title = _check_title(project)
    videos = dataset_videos(dataset)
    notes = [f"skipped {name}: the file name is not valid UTF-8; rename it" for name in videos.skipped]
    config = labeling_config()

    found = find_project(client, title)
    created = found is None
    if found is None:
        found = client.create_project(
            {
                "title": title,
                "label_config": config,
                "maximum_annotations": overlap,
                "description": f"vpbench: video-level privacy labels ({len(videos.files)} videos, {overlap} "
                f"annotators each)",
                "expert_instruction": _guidelines_html(),
                "show_instruction": True,
                "show_skip_button": True,
            }
        )
    else:
        if found.get("maximum_annotations") != overlap:
            client.update_project(int(found["id"]), {"maximum_annotations": overlap})
            notes.append(f"annotations per task changed from {found.get('maximum_annotations')} to {overlap}")
        missing = [a for a in ATTRIBUTES if a not in _choice_names(str(found.get("label_config", "")))]
        if missing:
            notes.append(
                f"the project's labeling config has no choice for {', '.join(missing)}: "
                "its exports will lack those votes (config left as it is)"
            )
    project_id = int(found["id"])

    storage = _storage(client, project_id, videos.folder)
    sample = next(iter(videos.files.values()))
    root = _document_root(client, videos.folder, sample, document_root)

    existing: set[str] = set()
    other = 0
    for task in client.tasks(project_id):
        data = task.get("data") if isinstance(task, dict) else None
        vid = data.get("video_id") if isinstance(data, dict) else None
        if isinstance(vid, str):
            existing.add(vid)
        else:
            other += 1
    if other:
        notes.append(f"{other} task(s) in the project have no data.video_id (not made by vpbench); left alone")

    new = [(vid, rel) for vid, rel in videos.files.items() if vid not in existing]
    prefix = videos.folder.relative_to(root).as_posix()
    imported = 0
    for start in range(0, len(new), IMPORT_BATCH):
        batch = [
            {"data": {"video": local_file_url(f"{prefix}/{rel}"), "video_id": vid}}
            for vid, rel in new[start : start + IMPORT_BATCH]
        ]
        count = client.import_tasks(project_id, batch)
        if count != len(batch):
            raise VPBenchError(f"{client.where} imported {count} of {len(batch)} tasks; run push again to add the rest")
        imported += count
    return PushResult(
        project_id=project_id,
        project_url=f"{client.url}/projects/{project_id}/data",
        created=created,
        videos=len(videos.files),
        imported=imported,
        already=len(videos.files) - len(new),
        other_tasks=other,
        storage_id=int(storage.get("id", 0)),
        storage_path=str(videos.folder),
        document_root=str(root),
        notes=notes,
    )


# --------------------------------------------------------------------------- pull


@dataclass
class PullResult:
    project_id: int
    out: str
    tasks: int
    annotations: int
    cancelled: int
    annotators: int


def _export(client: LabelStudio, project: dict) -> tuple[bytes, list]:
    body = client.export_json(int(project["id"]))
    try:
        tasks = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise VPBenchError(f"{client.where} sent an export that is not JSON") from None
    if not isinstance(tasks, list):
        raise VPBenchError(f"{client.where} sent an export that is not a list of tasks")
    # The counting below walks tasks and annotations: anything else there is a broken export, said once.
    for k, task in enumerate(tasks):
        if not isinstance(task, dict) or not isinstance(task.get("annotations", []), list):
            raise VPBenchError(
                f"{client.where} sent an export whose task #{k + 1} is not a task with a list of annotations"
            )
    return body, tasks


def _annotations(tasks: list) -> list[dict]:
    return [a for t in tasks if isinstance(t, dict) for a in (t.get("annotations") or []) if isinstance(a, dict)]


def pull(client: LabelStudio, project: str, out: str | os.PathLike) -> PullResult:
    """Save the project's full JSON export to ``out`` (atomically: a reader never sees half of it)."""
    found = _require_project(client, project)
    body, tasks = _export(client, found)
    atomic_write_bytes(out, body)
    annotations = _annotations(tasks)
    cancelled = sum(bool(a.get("was_cancelled")) for a in annotations)
    users = {json.dumps(a.get("completed_by"), sort_keys=True) for a in annotations}
    return PullResult(int(found["id"]), str(out), len(tasks), len(annotations) - cancelled, cancelled, len(users))


# --------------------------------------------------------------------------- status


@dataclass
class Status:
    project_id: int
    overlap: int
    tasks: int
    complete: int  # tasks with at least `overlap` annotators (cancelled annotations do not count)
    annotators: dict[str, dict]  # "user<id>" -> {"email", "tasks", "skipped"}
    fleiss_kappa: dict[str, float | None]
    ties: dict[str, list[str]]  # video_id -> attributes whose majority is a tie
    incomplete_videos: int  # videos left out of kappa and ties: some attribute has no vote yet
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _user_key(completed_by) -> str:
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("id", completed_by.get("email"))
    return f"user{completed_by}" if isinstance(completed_by, int) else str(completed_by)


def status(client: LabelStudio, project: str, overlap: int | None = None) -> Status:
    """Progress and agreement so far (see the module docstring)."""
    from ..data.labels.importers import read_labelstudio_export
    from ..data.labels.votes import aggregate_votes

    found = _require_project(client, project)
    project_id = int(found["id"])
    if overlap is None:
        overlap = int(found.get("maximum_annotations") or 1)
    body, tasks = _export(client, found)

    done_by: list[set[str]] = []
    per_user: dict[str, Counter] = {}
    for task in tasks:
        users = set()
        for ann in task.get("annotations") or []:
            if not isinstance(ann, dict):
                continue
            key = _user_key(ann.get("completed_by"))
            counts = per_user.setdefault(key, Counter())
            if ann.get("was_cancelled"):
                counts["skipped_annotations"] += 1
            else:
                users.add(key)
        for key in users:
            per_user[key]["tasks"] += 1
        done_by.append(users)
    emails: dict[str, str] = {}
    try:
        emails = {
            f"user{u['id']}": str(u.get("email", ""))
            for u in client.users()
            if isinstance(u, dict) and isinstance(u.get("id"), int)
        }
    except LabelStudioError:
        pass  # a token that may not list users still gets the counts
    annotators = {
        key: {"email": emails.get(key, ""), "tasks": int(c["tasks"]), "skipped": int(c["skipped_annotations"])}
        for key, c in sorted(per_user.items())
    }

    # The same reader `vpbench build` uses: the numbers here are the ones the build will record.
    with tempfile.TemporaryDirectory(prefix="vpbench-status-") as tmp:
        path = Path(tmp) / "export.json"
        path.write_bytes(body)
        result = read_labelstudio_export(path)
    warnings = [w.replace(f"{path}: ", "") for w in result.warnings]
    votes = result.votes
    voted = votes.groupby("key")["attribute"].nunique()
    full = set(voted[voted == len(ATTRIBUTES)].index)
    kappa: dict[str, float | None] = {a: None for a in ATTRIBUTES}
    ties: dict[str, list[str]] = {}
    if full:
        agg = aggregate_votes(votes[votes["key"].isin(full)])
        kappa = agg.fleiss_kappa
        for key, row in agg.labels.iterrows():
            tied = [a for a in ATTRIBUTES if bool(row[f"{a}_tie"])]
            if tied:
                ties[str(key)] = tied
    return Status(
        project_id=project_id,
        overlap=overlap,
        tasks=len(tasks),
        complete=sum(len(users) >= overlap for users in done_by),
        annotators=annotators,
        fleiss_kappa=kappa,
        ties=ties,
        incomplete_videos=int(len(voted) - len(full)),
        warnings=warnings,
    )


def format_status(s: Status) -> str:
    lines = [f"project {s.project_id}: {s.complete}/{s.tasks} tasks have at least {s.overlap} annotation(s)"]
    if s.annotators:
        lines.append("annotations per annotator:")
        for key, a in s.annotators.items():
            name = f"{key} ({a['email']})" if a["email"] else key
            skipped = f", {a['skipped']} skipped" if a["skipped"] else ""
            lines.append(f"  {name}: {a['tasks']} task(s){skipped}")
    kappas = ", ".join(f"{a} {'n/a' if k is None else f'{k:.3f}'}" for a, k in s.fleiss_kappa.items())
    lines.append(f"Fleiss' kappa so far: {kappas}")
    if s.incomplete_videos:
        lines.append(f"  ({s.incomplete_videos} video(s) without a vote on every attribute are not counted yet)")
    if s.ties:
        lines.append(f"videos whose majority is a tie ({len(s.ties)}):")
        lines.extend(f"  {vid}: {', '.join(attrs)}" for vid, attrs in sorted(s.ties.items()))
    else:
        lines.append("no tied majority")
    return "\n".join(lines)
