"""Privacy-removal methods: a registry of :class:`PrivacyMethod` classes.

Third-party methods register through the ``vpbench.methods`` entry point
group (the entry point names a PrivacyMethod subclass); ``vpbench methods``
lists every method with its version and origin.
"""

from __future__ import annotations

from ..registry import Registry
from .base import FitData, PrivacyMethod

METHODS: Registry[type[PrivacyMethod]] = Registry("method", group="vpbench.methods", base=PrivacyMethod)


def _register_builtin() -> None:
    from .simple import BUILTIN
    from .stprivacy import STPrivacy

    for cls in (*BUILTIN, STPrivacy):
        METHODS.register(cls.name, cls)


_register_builtin()


def create_method(name: str, **options) -> PrivacyMethod:
    """Instantiate a registered method by name ("did you mean" on unknown names)."""
    return METHODS.get(name)(**options)


__all__ = ["METHODS", "FitData", "PrivacyMethod", "create_method"]
