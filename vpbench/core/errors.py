"""The toolkit's own error type and the "did you mean" helper.

A :class:`VPBenchError` is a user-facing error: the CLI prints its message as
one line and exits non-zero, without a traceback (``--debug`` shows it).
Anything else escaping the CLI is a bug in vpbench.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class VPBenchError(Exception):
    """A user mistake or bad input, reported as one line."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_name_error(kind: str, name: str, choices: Iterable[str]) -> VPBenchError:
    """Build the standard error for an unknown registry/option name."""
    choices = sorted(choices)
    return VPBenchError(f"unknown {kind} '{name}'{did_you_mean(name, choices)}; choose from: {', '.join(choices)}")
