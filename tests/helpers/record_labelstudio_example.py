"""Record annotation/example-export.json from a real Label Studio server.

    .venv/bin/python -m tests.helpers.record_labelstudio_example [OUT]

Starts Label Studio (tools/labelstudio-server.sh install first), pushes three
tiny VP-Synth videos with `vpbench annotate push`'s code, has three annotators
work on them through the API and saves the full JSON export with
`vpbench annotate pull`'s code. The scenario (EXAMPLE_SCENARIO) covers what
the importer must handle: a skipped (cancelled) task, an annotator who
annotates a task twice, an annotation updated after submission, an answer
left out, and a tie. tests/data/labels/test_labelstudio_export.py checks the votes.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from tests.helpers.labelstudio_server import (
    INSTALL_HINT,
    annotate,
    choice,
    create_annotator,
    label_studio_executable,
    project_tasks,
    start_server,
)
from tests.helpers.tiny import REPO
from vpbench.annotation.campaign import pull, push
from vpbench.annotation.labelstudio import LabelStudio
from vpbench.core.attributes import ATTRIBUTES
from vpbench.data.builder import build_dataset

PROJECT = "VP-Synth example"


def _answers(bits: str) -> dict[str, str]:
    """'00100' -> {face: no, skin_color: no, gender: yes, ...}; '-' leaves the attribute out."""
    return {a: ("yes" if b == "1" else "no") for a, b in zip(ATTRIBUTES, bits) if b != "-"}


# (video, annotator 1..3, answers F S G N R, or "skip"), in submission order; then the revisions.
EXAMPLE_SCENARIO = [
    ("jump/vpsynth_jump_000", 1, "00100"),
    ("jump/vpsynth_jump_000", 2, "00100"),
    ("jump/vpsynth_jump_000", 3, "00000"),  # misses the gender cue
    ("stand_up/vpsynth_stand_up_000", 1, "11011"),
    ("stand_up/vpsynth_stand_up_000", 2, "01011"),  # replaced below by a second annotation
    ("stand_up/vpsynth_stand_up_000", 3, "skip"),
    ("wave/vpsynth_wave_000", 1, "11110"),  # updated below
    ("wave/vpsynth_wave_000", 2, "0111-"),  # leaves relationship out
    ("wave/vpsynth_wave_000", 3, "01100"),
]
SECOND_ANNOTATION = ("stand_up/vpsynth_stand_up_000", 2, "10011")  # a new annotation of the same task: skin_color ties
UPDATE = ("wave/vpsynth_wave_000", 1, "01110")  # the same annotation, edited


def record(out: Path) -> None:
    exe = label_studio_executable()
    if exe is None:
        sys.exit(f"Label Studio is not installed: {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="vpbench-ls-record-") as tmp:
        work = Path(tmp)
        synth = work / "synth"
        build_dataset("synth-hmdb51", synth, size="tiny", progress=False, workers=1)
        root = work / "root"
        for vid in dict.fromkeys(v for v, _, _ in EXAMPLE_SCENARIO):
            target = root / "clips" / f"{vid}.avi"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(synth / "raw" / f"{vid}.avi", target)
        server = start_server(exe, root, work / "server")
        try:
            client = LabelStudio(server.url, server.token)
            result = push(client, root / "clips", PROJECT, overlap=3)
            tasks = {t["data"]["video_id"]: t["id"] for t in project_tasks(server, result.project_id)}
            users = {n: create_annotator(server, n) for n in (1, 2, 3)}
            ids = {}
            for vid, n, bits in EXAMPLE_SCENARIO:
                done = annotate(
                    server,
                    tasks[vid],
                    users[n],
                    {} if bits == "skip" else _answers(bits),
                    cancelled=bits == "skip",
                    lead_time=12.5 + n,
                )
                ids[(vid, n)] = done["id"]
            vid, n, bits = SECOND_ANNOTATION
            annotate(server, tasks[vid], users[n], _answers(bits), lead_time=9.0)
            vid, n, bits = UPDATE
            result_items = [choice(a, v, f"{a[:3]}upd{i}") for i, (a, v) in enumerate(_answers(bits).items())]
            status, body = server.api("PATCH", f"/api/annotations/{ids[(vid, n)]}/", {"result": result_items})
            if status != 200:
                raise RuntimeError(f"update refused: HTTP {status} {body}")
            pulled = pull(client, PROJECT, out)
            print(
                f"{out}: {pulled.tasks} tasks, {pulled.annotations} annotations, {pulled.cancelled} skipped "
                f"(Label Studio started in {server.start_seconds:.1f} s)"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    record(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "annotation" / "example-export.json")
