"""The output-folder check leaves no file behind, even when a signal ends the process during the check."""

import tempfile

from vpbench.core.atomic import check_output_dir


def test_the_write_check_never_names_a_file_in_the_folder(tmp_path, monkeypatch):
    seen: list[list[str]] = []
    real = tempfile.TemporaryFile

    def watched(*args, **kwargs):
        f = real(*args, **kwargs)
        seen.append(sorted(p.name for p in tmp_path.iterdir()))  # what a Ctrl-C at this moment would leave
        return f

    monkeypatch.setattr(tempfile, "TemporaryFile", watched)
    assert check_output_dir(tmp_path / "out") == tmp_path / "out"
    assert seen == [[]] and list(tmp_path.iterdir()) == []
