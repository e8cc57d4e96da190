"""Reading a command's stderr: its progress lines (bars written as log lines without a terminal) apart."""

import re

# "<desc>: NN%|<bar>| n/total [00:01<00:03, ...]" (or "<desc>: n unit [00:01, ...]" without a total): what
# vpbench.core.progress.Progress writes when stderr is not a terminal
PROGRESS_LINE = re.compile(r"^.+: .*\[(\d+:)?\d\d:\d\d[<,\]].*\]$")


def without_progress(stderr: str) -> list[str]:
    """The lines of ``stderr`` that are not progress lines."""
    return [line for line in stderr.splitlines() if not PROGRESS_LINE.match(line)]
