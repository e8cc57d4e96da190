"""The epilog of a command's ``--help``: its examples, then an optional note.

Click rewraps each paragraph of an epilog, except those indented: an example is
one indented paragraph, so that a long command line stays one line.
"""

from __future__ import annotations


def examples(*commands: str, note: str = "") -> str:
    """``Example(s):`` and each command as its own indented paragraph, then ``note``."""
    paragraphs = ["Examples:" if len(commands) > 1 else "Example:", *(f"  {command}" for command in commands)]
    return "\n\n".join(paragraphs + ([note] if note else []))
