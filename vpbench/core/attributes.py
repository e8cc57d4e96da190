"""The five privacy attributes and their canonical order inside vpbench.

Every importer takes an explicit column order and maps it onto this one, so
no file format's order leaks into the rest of the toolkit.
"""

from __future__ import annotations

from .errors import VPBenchError, did_you_mean

ATTRIBUTES: tuple[str, ...] = ("face", "skin_color", "gender", "nudity", "relationship")

# The STPrivacy pickles do not document their column order. Agreement of the
# positive counts with PA-HMDB51 suggests this one (see ../shared/data/README.md);
# it is the default for --label-format stprivacy-pickle and can be overridden.
STPRIVACY_PICKLE_ORDER: tuple[str, ...] = ("skin_color", "face", "gender", "nudity", "relationship")


def parse_attribute_order(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Parse ``"face,skin_color,..."`` (or a sequence) into a validated order.

    Every attribute must appear exactly once.
    """
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [s.strip() for s in spec]
    for name in names:
        if name not in ATTRIBUTES:
            raise VPBenchError(
                f"unknown attribute '{name}' in label order{did_you_mean(name, ATTRIBUTES)}; "
                f"attributes are {', '.join(ATTRIBUTES)}"
            )
    if sorted(names) != sorted(ATTRIBUTES):
        missing = [a for a in ATTRIBUTES if a not in names]
        dup = sorted({n for n in names if names.count(n) > 1})
        detail = []
        if missing:
            detail.append("missing " + ", ".join(missing))
        if dup:
            detail.append("repeated " + ", ".join(dup))
        raise VPBenchError(f"label order must name each of the five attributes once ({'; '.join(detail)})")
    return tuple(names)
