"""Progress without a terminal: whole log lines instead of a silent bar."""

import io

from vpbench.core import progress as progress_module
from vpbench.core.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_a_terminal_each_stage_ends_with_a_whole_line():
    log = io.StringIO()  # a file, as under nohup or a cluster job: not a terminal
    for _ in Progress(range(5), desc="train/action", unit="epoch", file=log):
        pass
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and lines, log.getvalue()
    assert lines[-1].startswith("train/action: 100%") and "5/5" in lines[-1]


def test_without_a_terminal_long_work_logs_at_most_one_line_per_interval(monkeypatch):
    clock = iter(range(0, 10_000, 10))  # each tick 10 s of work
    monkeypatch.setattr("tqdm.std.time", lambda: next(clock))  # tqdm's clock, read by each bar it makes
    log = io.StringIO()
    with Progress(total=30, desc="fit", file=log) as bar:
        for step in range(30):
            bar.update()
            bar.set_postfix(loss=1.0 / (step + 1))  # as every training loop does, each step
    lines = log.getvalue().splitlines()
    # 300 s of work, a line at most every LOG_EVERY_S (30 s), and the closing line: not one per step
    assert 3 <= len(lines) <= 300 / progress_module.LOG_EVERY_S + 2, lines
    assert lines[-1].startswith("fit: 100%")


def test_on_a_terminal_it_is_tqdm_s_bar_and_disable_true_prints_nothing():
    term = _Terminal()
    for _ in Progress(range(3), desc="bar", file=term):
        pass
    assert "\r" in term.getvalue()  # redrawn in place
    quiet = io.StringIO()
    for _ in Progress(range(3), desc="quiet", file=quiet, disable=True):
        pass
    assert quiet.getvalue() == ""


def test_under_torchrun_only_rank_0_reports(monkeypatch):
    logs = {}
    for rank in ("0", "1", "3"):
        monkeypatch.setenv("RANK", rank)
        logs[rank] = io.StringIO()
        for _ in Progress(range(3), desc="train", file=logs[rank]):
            pass
    assert logs["0"].getvalue() and logs["1"].getvalue() == logs["3"].getvalue() == ""
