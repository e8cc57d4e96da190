"""vpbench installed from a wheel, as a user installs it: protocols, model cards and Label Studio files come with it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.helpers.tiny import REPO, write_tiny_models, write_tiny_protocols


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "vpbench", src / "vpbench", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src), "-w", str(out)],
        check=True,
        capture_output=True,
    )
    [path] = out.glob("vpbench-*.whl")
    return path


def test_the_wheel_carries_every_protocol_card_and_annotation_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("protocols", "models", "annotation"):
        for path in (REPO / "vpbench" / "resources" / folder).rglob("*"):
            if path.is_file():
                assert f"vpbench/{path.relative_to(REPO / 'vpbench').as_posix()}" in names


def test_an_installed_wheel_lists_protocols_and_methods_outside_the_checkout(wheel, tmp_path):
    """A venv that sees only the wheel's vpbench (the dependencies come from this environment's
    site-packages, without its editable-install hook) runs the CLI from an unrelated folder."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    # A path listed in a .pth file joins sys.path without running that folder's own .pth files (the editable hook).
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = venv / "bin" / "python"
    where = subprocess.run(
        [str(python), "-c", "import vpbench; print(vpbench.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(site))
    protocols = subprocess.run(
        [str(python), "-m", "vpbench", "protocols"], cwd=tmp_path, capture_output=True, text=True
    )
    assert protocols.returncode == 0, protocols.stderr
    assert [line.split()[0] for line in protocols.stdout.splitlines()] == ["cross", "frame", "known"]
    methods = subprocess.run([str(python), "-m", "vpbench", "methods"], cwd=tmp_path, capture_output=True, text=True)
    assert methods.returncode == 0, methods.stderr
    assert {"raw", "stprivacy", "vita", "blackening"} <= {line.split()[0] for line in methods.stdout.splitlines()}
    # A tiny evaluation end to end: the shipped protocol's jobs, the tiny recognizer profile.
    data = tmp_path / "data"
    build = subprocess.run(
        [
            str(python),
            "-m",
            "vpbench",
            "build",
            "--dataset",
            "synth-hmdb51",
            "--size",
            "tiny",
            "--out",
            str(data / "synth-hmdb51"),
            "--workers",
            "1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    models, protocols = write_tiny_models(tmp_path / "models"), write_tiny_protocols(tmp_path / "protocols")
    run = subprocess.run(
        [
            str(python),
            "-m",
            "vpbench",
            "evaluate",
            "--method",
            "raw",
            "--protocol",
            "known",
            "--dataset",
            "synth-hmdb51",
            "--data-root",
            str(data),
            "--out",
            str(tmp_path / "results"),
            "--models-dir",
            str(models),
            "--protocols-dir",
            str(protocols),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "results" / "known" / "synth-hmdb51" / "raw" / "cpu-seed0.json").is_file()
