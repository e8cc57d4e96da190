"""A built dataset's summary: the numbers `vpbench build` and `make demo` print."""

from __future__ import annotations

import os

from ..core.attributes import ATTRIBUTES
from .builder import load_info


def summarize_dataset(dataset_dir: str | os.PathLike) -> dict:
    """Counts, split sizes, positives and agreement of a built dataset (from its info.json)."""
    info = load_info(dataset_dir)
    return {
        "name": info["name"],
        "videos": info["counts"]["videos"],
        "classes": info["counts"]["classes"],
        "skipped": info["counts"]["skipped"],
        "splits": info["splits"],
        "positives": info["positives"],
        "fleiss_kappa": info["agreement"]["fleiss_kappa"],
        "ties": info["agreement"]["ties"],
    }


def format_summary(summary: dict) -> str:
    lines = [
        f"{summary['name']}: {summary['videos']} videos, {summary['classes']} classes, {summary['skipped']} skipped"
    ]
    for fold, sizes in summary["splits"].items():
        val = f" / {sizes['val']} val" if sizes.get("val") else ""  # builds before the val split have no count
        lines.append(f"  {fold}: {sizes['train']} train{val} / {sizes['test']} test / {sizes['unused']} unused")
    width = max(len(a) for a in ATTRIBUTES)
    lines.append(f"  {'attribute':<{width}}  positives  Fleiss' kappa  ties")
    for a in ATTRIBUTES:
        kappa = summary["fleiss_kappa"].get(a)
        k = "n/a" if kappa is None else f"{kappa:.3f}"
        lines.append(f"  {a:<{width}}  {summary['positives'][a]:>9}  {k:>13}  {summary['ties'][a]:>4}")
    return "\n".join(lines)
