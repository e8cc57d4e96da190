"""Privacy-removal methods: a registry of :class:`PrivacyMethod` classes.

Third-party methods register through the ``vpbench.methods`` entry point
group (the entry point names a PrivacyMethod subclass); ``vpbench methods``
lists every method with its version and origin.
"""

from __future__ import annotations

import inspect

from ..errors import VPBenchError, did_you_mean
from ..registry import Registry
from .base import FitData, PrivacyMethod

METHODS: Registry[type[PrivacyMethod]] = Registry("method", group="vpbench.methods", base=PrivacyMethod)


def _register_builtin() -> None:
    from .collective import Collective
    from .simple import BUILTIN
    from .spact import SPAct
    from .stprivacy import STPrivacy
    from .vita import VITA

    for cls in (*BUILTIN, VITA, SPAct, Collective, STPrivacy):
        METHODS.register(cls.name, cls)


_register_builtin()


def create_method(name: str, **options) -> PrivacyMethod:
    """Instantiate a registered method by name ("did you mean" on unknown names and options)."""
    cls = METHODS.get(name)
    signature = inspect.signature(cls)
    try:
        signature.bind(**options)
    except TypeError:
        # An --option the method does not take is a user mistake, not a traceback.
        known = [p for p, v in signature.parameters.items() if v.kind is v.KEYWORD_ONLY or v.kind is v.POSITIONAL_OR_KEYWORD]
        bad = next(k for k in options if k not in known)
        raise VPBenchError(f"method '{name}' has no option '{bad}'{did_you_mean(bad, known)}; its options: {', '.join(known) or 'none'}") from None
    return cls(**options)


__all__ = ["METHODS", "FitData", "PrivacyMethod", "create_method"]
