"""A result's ``git`` names the commit of the vpbench checkout that ran, and only that."""

import shutil
import subprocess

import pytest

from vpbench.evaluation.runner import _git_hash

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")


def _repo(root):
    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    (root / "vpbench").mkdir()
    (root / "vpbench" / "__init__.py").write_text("")
    (root / ".gitignore").write_text(".venv/\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    return git("rev-parse", "HEAD").strip()


def test_a_checkout_records_its_commit(tmp_path):
    head = _repo(tmp_path)
    assert _git_hash(tmp_path / "vpbench") == head


def test_a_package_installed_in_a_virtualenv_inside_another_repository_records_none(tmp_path):
    _repo(tmp_path)
    installed = tmp_path / ".venv" / "lib" / "python3.11" / "site-packages" / "vpbench"
    installed.mkdir(parents=True)
    assert _git_hash(installed) is None


def test_outside_any_repository_records_none(tmp_path):
    (tmp_path / "vpbench").mkdir()
    assert _git_hash(tmp_path / "vpbench") is None


def test_a_checkout_in_a_folder_with_a_space_records_its_commit(tmp_path):
    root = tmp_path / "my projects"
    root.mkdir()
    head = _repo(root)
    assert _git_hash(root / "vpbench") == head
