"""Privacy-removal methods: a registry of :class:`PrivacyMethod` classes.

Third-party methods register through the ``vpbench.methods`` entry point
group (the entry point names a PrivacyMethod subclass); ``vpbench methods``
lists every method with its version and origin.
"""

from __future__ import annotations

import inspect
import types
import typing
from pathlib import Path

from ..core.errors import VPBenchError, did_you_mean
from ..core.registry import Registry
from .base import FitContext, FitData, PrivacyMethod

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
    """Instantiate a registered method by name ("did you mean" on unknown names and options; an option
    value of the wrong type is a one-line error naming the option, the value and the type it takes)."""
    cls = METHODS.get(name)
    return cls(**check_options(name, options))


def check_options(name: str, options: dict) -> dict:
    """The options of method ``name`` checked against its constructor: every name must be a parameter,
    every value of the parameter's annotated type (``--option`` values are parsed as YAML, so
    ``keep_ratio=abc`` arrives as a string). Returns the options, a number given for a text option as text."""
    cls = METHODS.get(name)
    signature = inspect.signature(cls)
    try:
        signature.bind(**options)
    except TypeError:
        # An --option the method does not take is a user mistake, not a traceback.
        known = [
            p for p, v in signature.parameters.items() if v.kind is v.KEYWORD_ONLY or v.kind is v.POSITIONAL_OR_KEYWORD
        ]
        bad = next(k for k in options if k not in known)
        raise VPBenchError(
            f"method '{name}' has no option '{bad}'{did_you_mean(bad, known)}; its options: "
            f"{', '.join(known) or 'none'}"
        ) from None
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - a plugin's annotations may not resolve; its constructor then checks alone
        hints = {}
    checked = dict(options)
    for key, value in options.items():
        if key in hints:
            checked[key] = _check_value(name, key, value, hints[key])
    return checked


# What each annotated type accepts, and how the error names it.
_ACCEPTS = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "text"),
}


def _check_value(method: str, key: str, value, hint):
    allowed = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if value is None and type(None) in allowed:
        return None  # the method's default
    kinds = [t for t in allowed if t is not type(None)]
    if any(t not in _ACCEPTS for t in kinds):
        return value  # a type this check does not know (a plugin's): the constructor decides
    if any(_ACCEPTS[t][0](value) for t in kinds):
        return value
    if str in kinds and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # YAML read a name such as 2024 as a number; the method wants the text
    expected = " or ".join(_ACCEPTS[t][1] for t in kinds)
    raise VPBenchError(f"method '{method}' option '{key}' takes {expected}, got {_show(value)}")


def _show(value) -> str:
    """A value as it was typed after ``--option key=`` (YAML spelling: true, null; text quoted)."""
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def check_method_arguments(
    name: str, *, checkpoint: str | Path | None = None, whole_frame: bool = False, boxes: str | Path | None = None
) -> None:
    """Refuse command-line arguments that method ``name`` would silently ignore: a checkpoint for a method
    with nothing to train, person boxes or the whole-frame switch for a method that does not act on person
    regions. A result or a video made without them would not show that they were given."""
    cls = METHODS.get(name)
    if checkpoint is not None and not cls.learned:
        raise VPBenchError(
            f"--checkpoint {checkpoint}: method '{name}' is not learned and loads no trained state; drop --checkpoint"
        )
    if whole_frame and not cls.needs_person_masks:
        raise VPBenchError(
            f"--whole-frame: method '{name}' does not act on person regions (it transforms whole frames anyway); drop "
            f"--whole-frame"
        )
    if boxes is not None and not cls.needs_person_masks:
        raise VPBenchError(f"--boxes {boxes}: method '{name}' does not use person boxes; drop --boxes")


__all__ = [
    "METHODS",
    "FitContext",
    "FitData",
    "PrivacyMethod",
    "check_method_arguments",
    "check_options",
    "create_method",
]
