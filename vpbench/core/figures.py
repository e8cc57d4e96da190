"""Figures as PNG bytes: matplotlib's object API on an Agg canvas (no pyplot, so nothing here changes
the backend of a notebook that imports vpbench), with fixed metadata, so the same input gives the same
bytes and a leaderboard can be rebuilt and diffed."""

from __future__ import annotations

import io

# matplotlib stamps its version into "Software"; dropping it keeps bytes equal across runs.
_PNG_METADATA = {"Software": None}


def figure(width_px: int, height_px: int, dpi: int = 100):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata=_PNG_METADATA)
    return buf.getvalue()
