"""`vpbench annotate push|pull|status`: the Label Studio side of labelling videos.

The token comes from ``$LABEL_STUDIO_API_KEY`` only (a command-line option
would leave it in ps and shell history) and is never printed; either a legacy
token or a personal access token works. The calls go through Label Studio's SDK
(the ``annotate`` extra: ``pip install 'vpbench[annotate]'``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer

from .epilog import examples

annotate_app = typer.Typer(
    help="Annotate videos with Label Studio: push them as tasks, follow progress, pull the export for `vpbench build`.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_URL_HELP = "Label Studio's address, e.g. http://127.0.0.1:8080."
_TOKEN_NOTE = (
    "The token is read from $LABEL_STUDIO_API_KEY only, and never printed: Label Studio > Account & Settings > "
    "Personal Access Token (or the legacy token). Needs the annotate extra: pip install 'vpbench[annotate]'."
)


def _client(url: str):
    from ..annotation.labelstudio import LabelStudio, token_from

    return LabelStudio(url, token_from(os.environ))


@annotate_app.command(
    epilog=examples(
        "export LABEL_STUDIO_API_KEY=...   (then)",
        "vpbench annotate push --dataset data/vp-hmdb51 --url http://127.0.0.1:8080 --project 'VP-HMDB51 privacy'",
        "vpbench annotate push --dataset /videos/my-clips --url http://127.0.0.1:8080 --project 'My clips' --overlap 5",
        "tools/labelstudio-server.sh start /videos 8080   (a server that can serve everything under /videos)",
        note=(
            "The videos are not uploaded: the server reads them where they lie, through a local-files storage on the "
            "dataset's video folder. Run the server on the machine holding them with "
            "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT set to a parent "
            "folder. Running push again imports only videos the project does not have yet. " + _TOKEN_NOTE
        ),
    )
)
def push(
    dataset: Path = typer.Option(
        ..., "--dataset", "-d", help="A built dataset directory, or a folder of videos (any depth)."
    ),
    url: str = typer.Option(..., "--url", help=_URL_HELP),
    project: str = typer.Option(
        "vpbench privacy labels",
        "--project",
        "-p",
        help="Project title; an existing project with this title is reused.",
    ),
    overlap: int = typer.Option(
        3, "--overlap", help="Annotators per video (the project's maximum annotations per task)."
    ),
    document_root: Optional[Path] = typer.Option(
        None,
        "--document-root",
        help="The server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: found by asking the server).",
    ),
) -> None:
    """Create (or find) the project and import one task per video not imported yet."""
    from ..annotation.campaign import push as do_push

    result = do_push(_client(url), dataset, project, overlap=overlap, document_root=document_root)
    verb = "created" if result.created else "found"
    typer.echo(f"project {result.project_id} {verb}: {result.project_url}")
    typer.echo(
        f"  {result.imported} task(s) imported, {result.already} already there, {result.videos} video(s) in {dataset}"
    )
    typer.echo(
        f"  videos served from {result.storage_path} (document root {result.document_root}); "
        f"{overlap} annotation(s) per task"
    )
    for note in result.notes:
        typer.echo(f"  note: {note}")


@annotate_app.command(
    epilog=examples(
        "vpbench annotate pull --url http://127.0.0.1:8080 --project 'VP-HMDB51 privacy' --out labels/round1.json",
        "vpbench build --dataset vp-hmdb51 --raw hmdb51/ --splits splits/ --labels labels/round1.json --label-format "
        "labelstudio --out data/vp-hmdb51",
        note=(
            "The file is Label Studio's full JSON export (every task and annotation, skipped ones too), written "
            "atomically. " + _TOKEN_NOTE
        ),
    )
)
def pull(
    url: str = typer.Option(..., "--url", help=_URL_HELP),
    project: str = typer.Option(..., "--project", "-p", help="Project title."),
    out: Path = typer.Option(..., "--out", "-o", help="Export JSON file to write."),
) -> None:
    """Save the project's full JSON export (the input of `vpbench build --labels`)."""
    from ..annotation.campaign import pull as do_pull

    result = do_pull(_client(url), project, out)
    typer.echo(
        f"{result.out}: {result.tasks} task(s), {result.annotations} annotation(s) and {result.cancelled} skipped "
        f"by {result.annotators} annotator(s) from project {result.project_id}"
    )


@annotate_app.command(
    epilog=examples(
        "vpbench annotate status --url http://127.0.0.1:8080 --project 'VP-HMDB51 privacy'",
        "vpbench annotate status --url http://127.0.0.1:8080 --project 'VP-HMDB51 privacy' --json > status.json",
        note=(
            "Kappa and ties come from the same importer and vote aggregation as `vpbench build`; a tie counts as "
            "identifiable in the build (--tie-policy positive). " + _TOKEN_NOTE
        ),
    )
)
def status(
    url: str = typer.Option(..., "--url", help=_URL_HELP),
    project: str = typer.Option(..., "--project", "-p", help="Project title."),
    overlap: Optional[int] = typer.Option(
        None, "--overlap", help="Annotations a task needs to count as done (default: the project's setting)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Progress: done tasks, annotations per annotator, Fleiss' kappa so far, tied videos."""
    from ..annotation.campaign import format_status
    from ..annotation.campaign import status as do_status

    result = do_status(_client(url), project, overlap)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True))
    else:
        typer.echo(format_status(result))
