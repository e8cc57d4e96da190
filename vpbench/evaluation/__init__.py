"""The evaluation stage: run a protocol for a method and write one result per evaluation.

- :mod:`.runner`: ``EvaluationRequest`` and ``evaluate`` (``vpbench evaluate``): datasets, the method's
  fit, the transform, the recognizers, the scores, the result file;
- :mod:`.engine`: training and multi-view testing of recognizers on a frame store;
- :mod:`.metrics`: top-1, class-wise F1, cMAP and bootstrap intervals;
- :mod:`.resume`: the run's work folder and what ``--resume`` continues from;
- :mod:`.preview`: the raw/transformed strip beside a result.

Protocols are configs (:func:`vpbench.core.config.load_protocol`); the result type is
:class:`vpbench.results.EvaluationResult`. ``from vpbench.evaluation import EvaluationRequest, evaluate``
imports torch only when used.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name in ("EvaluationRequest", "evaluate"):
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'vpbench.evaluation' has no attribute {name!r}")


__all__ = ["EvaluationRequest", "evaluate"]
