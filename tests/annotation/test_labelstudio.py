"""`vpbench annotate` against a real Label Studio server on loopback.

The server comes from the virtualenv tools/labelstudio-server.sh installs; one
server serves the whole session and is stopped (its whole process group) at
the end, pass or fail. Without that virtualenv these tests fail under CI
(env CI set) and are skipped elsewhere.
"""

from __future__ import annotations

import json
import logging
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from tests.helpers.labelstudio_server import (
    INSTALL_HINT,
    annotate,
    annotator_token,
    create_annotator,
    free_port,
    label_studio_executable,
    project_tasks,
    start_server,
)
from vpbench.cli import main
from vpbench.core.attributes import ATTRIBUTES
from vpbench.data.builder import build_dataset, load_manifest

pytestmark = pytest.mark.labelstudio

PROJECT = "VP-Synth tiny (test)"
ANNOTATED = 8  # tasks the three annotators work on (the others stay unannotated, as in a campaign under way)


@pytest.fixture(scope="session")
def ls_root(tmp_path_factory):
    """LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT of the test server."""
    return tmp_path_factory.mktemp("ls-root")


@pytest.fixture(scope="session")
def server(ls_root, tmp_path_factory):
    exe = label_studio_executable()
    if exe is None:
        message = f"Label Studio is not installed for the tests: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    srv = start_server(exe, ls_root, tmp_path_factory.mktemp("ls-server"))
    print(f"Label Studio started in {srv.start_seconds:.1f} s ({'cached' if srv.from_snapshot else 'fresh'} data dir)")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def synth(ls_root):
    out = ls_root / "synth-hmdb51"
    build_dataset("synth-hmdb51", out, size="tiny", seed=0, progress=False, workers=1)
    return out


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _expected(votes: dict[tuple[str, int], tuple[int, ...]]):
    """Majority (ties positive), ties and Fleiss' kappa per attribute, computed here from the submitted votes."""
    videos = sorted({v for v, _ in votes})
    yes = {(v, a): sum(votes[k][j] for k in votes if k[0] == v) for v in videos for j, a in enumerate(ATTRIBUTES)}
    n = {v: sum(1 for k in votes if k[0] == v) for v in videos}
    labels = {v: tuple(int(2 * yes[(v, a)] >= n[v]) for a in ATTRIBUTES) for v in videos}
    ties = {v: [a for a in ATTRIBUTES if 2 * yes[(v, a)] == n[v]] for v in videos}
    kappa = {}
    for a in ATTRIBUTES:
        rows = [(yes[(v, a)], n[v]) for v in videos if n[v] >= 2]
        p_bar = np.mean([(y * y + (m - y) ** 2 - m) / (m * (m - 1)) for y, m in rows])
        p = sum(y for y, _ in rows) / sum(m for _, m in rows)
        p_e = p * p + (1 - p) ** 2
        kappa[a] = float((p_bar - p_e) / (1 - p_e))
    return labels, {v: t for v, t in ties.items() if t}, kappa


def test_push_annotate_pull_build(server, synth, tmp_path, capsys, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)  # the SDK's and httpx's records too: none may hold a token
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", server.token)
    outputs = []

    code, out, err = run(
        capsys, "annotate", "push", "--dataset", str(synth), "--url", server.url, "--project", PROJECT, "--overlap", "3"
    )
    outputs += [out, err]
    assert code == 0, err
    videos = load_manifest(synth)
    assert f"{len(videos)} task(s) imported, 0 already there" in out
    project_id = int(out.split()[1])
    tasks = project_tasks(server, project_id)
    assert sorted(t["data"]["video_id"] for t in tasks) == sorted(videos["video_id"])
    status, project = server.api("GET", f"/api/projects/{project_id}/")
    assert status == 200 and project["maximum_annotations"] == 3
    # The editor can load the video through the task's URL.
    first = tasks[0]["data"]
    assert first["video"] == f"/data/local-files/?d=synth-hmdb51/raw/{first['video_id']}.avi"
    status, _ = server.api("GET", first["video"])
    assert status == 200

    code, out, err = run(capsys, "annotate", "push", "--dataset", str(synth), "--url", server.url, "--project", PROJECT)
    outputs += [out, err]
    assert code == 0 and f"project {project_id} found" in out
    assert f"0 task(s) imported, {len(videos)} already there" in out
    assert len(project_tasks(server, project_id)) == len(videos)

    # Three annotators: truth with 20% of answers flipped; annotator 3 skips two tasks, so those get two votes
    # (and task 0 a tie on face); annotator 2 annotates task 2 twice (the second, later one counts).
    truth = pd.read_csv(synth / "annotations" / "ground_truth.csv").set_index("video_id")
    users = [create_annotator(server, n) for n in (1, 2, 3)]
    # Each annotator submits with its own API token: the server, not the test, records who did it.
    tokens = {user: annotator_token(server, user) for user in users}
    rng = np.random.default_rng(7)
    by_video = {t["data"]["video_id"]: t["id"] for t in tasks}
    submitted: dict[tuple[str, int], tuple[int, ...]] = {}
    for i, video in enumerate(sorted(by_video)[:ANNOTATED]):
        for n, user in enumerate(users, 1):
            if n == 3 and i < 2:
                annotate(server, by_video[video], user, {}, cancelled=True, token=tokens[user])
                continue
            bits = [int(truth.loc[video, a]) ^ int(rng.random() < 0.2) for a in ATTRIBUTES]
            if i == 0:
                bits = [int(truth.loc[video, a]) for a in ATTRIBUTES]
                bits[0] ^= n == 2
            if n == 2 and i == 2:
                annotate(
                    server,
                    by_video[video],
                    user,
                    {a: "no" if b else "yes" for a, b in zip(ATTRIBUTES, bits)},
                    token=tokens[user],
                )
            annotate(
                server,
                by_video[video],
                user,
                {a: "yes" if b else "no" for a, b in zip(ATTRIBUTES, bits)},
                token=tokens[user],
            )
            submitted[(video, n)] = tuple(bits)
    labels, ties, kappa = _expected(submitted)
    assert ties, "the scenario must contain a tie"

    # status, with a personal access token (a JWT refresh token) this time.
    status, answer = server.api("POST", "/api/token/")
    assert status in (200, 201), answer
    pat = answer["token"]
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", pat)
    code, out, err = run(capsys, "annotate", "status", "--url", server.url, "--project", PROJECT, "--json")
    outputs += [out, err]
    assert code == 0, err
    report = json.loads(out)
    assert report["tasks"] == len(videos) and report["overlap"] == 3
    assert report["complete"] == ANNOTATED - 2
    per_user = {f"user{u}": report["annotators"][f"user{u}"] for u in users}
    assert [a["tasks"] for a in per_user.values()] == [ANNOTATED, ANNOTATED, ANNOTATED - 2]
    assert (
        per_user[f"user{users[2]}"]["skipped"] == 2 and per_user[f"user{users[0]}"]["email"] == "annotator1@example.org"
    )
    assert report["ties"] == ties
    for a in ATTRIBUTES:
        assert report["fleiss_kappa"][a] == pytest.approx(kappa[a])
    code, text, err = run(capsys, "annotate", "status", "--url", server.url, "--project", PROJECT)
    outputs += [text, err]
    assert code == 0 and f"{ANNOTATED - 2}/{len(videos)} tasks have at least 3 annotation(s)" in text

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", server.token)  # the legacy token again
    export = tmp_path / "labels" / "round1.json"
    code, out, err = run(capsys, "annotate", "pull", "--url", server.url, "--project", PROJECT, "--out", str(export))
    outputs += [out, err]
    assert code == 0, err
    tasks_exported = json.loads(export.read_text())
    assert len(tasks_exported) == len(videos)
    assert sum(a["was_cancelled"] for t in tasks_exported for a in t["annotations"]) == 2
    # The server recorded each annotation as its annotator's own submission.
    assert {(a["completed_by"], a["updated_by"]) for t in tasks_exported for a in t["annotations"]} == {
        (u, u) for u in users
    }

    built = tmp_path / "built"
    code, out, err = run(
        capsys,
        "build",
        "--dataset",
        "vp-hmdb51",
        "--raw",
        str(synth / "raw"),
        "--splits",
        str(synth / "splits"),
        "--labels",
        str(export),
        "--label-format",
        "labelstudio",
        "--out",
        str(built),
        "--workers",
        "1",
    )
    outputs += [out, err]
    assert code == 0, err
    manifest = load_manifest(built).set_index("video_id")
    assert sorted(manifest.index) == sorted(labels)
    for video, expected in labels.items():
        assert tuple(int(manifest.loc[video, a]) for a in ATTRIBUTES) == expected, video
        assert int(manifest.loc[video, "annotators"]) == (2 if video in sorted(by_video)[:2] else 3)
        for a in ATTRIBUTES:
            assert bool(manifest.loc[video, f"{a}_tie"]) == (a in ties.get(video, []))
    info = json.loads((built / "info.json").read_text())
    for a in ATTRIBUTES:
        assert info["agreement"]["fleiss_kappa"][a] == pytest.approx(kappa[a])
    assert set(info["agreement"]["annotators"]) == {f"user{u}" for u in users}
    assert info["tie_policy"] == "positive"

    assert caplog.records
    outputs += [f"{r.name} {r.getMessage()}" for r in caplog.records]
    for text in outputs:
        assert server.token not in text and pat not in text


def _one_line_error(code: int, err: str) -> str:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_wrong_tokens_are_one_line_errors(server, synth, capsys, monkeypatch):
    wrong = "0" * 40
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", wrong)
    code, out, err = run(capsys, "annotate", "push", "--dataset", str(synth), "--url", server.url)
    line = _one_line_error(code, err)
    assert "refused the API legacy token" in line and wrong not in out + err
    # A personal access token signed by some other server ({"token_type": "refresh", "user_id": "1", "exp": 2100}).
    forged = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsInVzZXJfaWQiOiIxIiwiZXhwIjo0MTAyNDQ0ODAwfQ."
        "c2lnbmF0dXJlLW9mLWFub3RoZXItc2VydmVy"
    )
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", forged)
    code, out, err = run(capsys, "annotate", "status", "--url", server.url, "--project", PROJECT)
    line = _one_line_error(code, err)
    assert "refused the personal access token" in line and forged not in out + err
    monkeypatch.delenv("LABEL_STUDIO_API_KEY")
    code, out, err = run(capsys, "annotate", "pull", "--url", server.url, "--project", PROJECT, "--out", "x.json")
    assert "LABEL_STUDIO_API_KEY" in _one_line_error(code, err)


def test_unknown_project_is_a_one_line_error(server, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", server.token)
    code, out, err = run(
        capsys,
        "annotate",
        "pull",
        "--url",
        server.url,
        "--project",
        "No such project",
        "--out",
        str(tmp_path / "x.json"),
    )
    assert "has no project titled 'No such project'" in _one_line_error(code, err)
    assert not (tmp_path / "x.json").exists()
    code, out, err = run(capsys, "annotate", "status", "--url", server.url, "--project", "No such project")
    assert "has no project titled" in _one_line_error(code, err)


def test_videos_outside_the_document_root_are_a_one_line_error(server, synth, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", server.token)
    outside = tmp_path / "elsewhere"
    (outside / "jump").mkdir(parents=True)
    shutil.copy2(synth / "raw" / "jump" / "vpsynth_jump_000.avi", outside / "jump" / "clip.avi")
    code, out, err = run(
        capsys, "annotate", "push", "--dataset", str(outside), "--url", server.url, "--project", "Outside root"
    )
    assert "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT" in _one_line_error(code, err)


def test_unreachable_server_is_a_one_line_error(capsys, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "0" * 40)
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = run(capsys, "annotate", "status", "--url", url, "--project", PROJECT)
    assert "cannot reach Label Studio" in _one_line_error(code, err)
    code, out, err = run(
        capsys, "annotate", "pull", "--url", "ftp://example.org", "--project", PROJECT, "--out", "x.json"
    )
    assert "--url must be an http://" in _one_line_error(code, err)
