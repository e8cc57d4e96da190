"""The package reads as the data flow: each stage imports only the stages before it.

build (data) -> methods -> evaluation -> results -> leaderboard. An AST walk over every module of
``vpbench/`` (imports inside functions too) resolves each import to its stage and checks it against
ALLOWED; a forbidden import fails here, naming the file, the line and the module.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers.tiny import REPO

PACKAGE = REPO / "vpbench"

# Stage of a module: the longest matching prefix.
STAGES = {
    "vpbench.core": "core",
    "vpbench.data.labels": "labels",
    "vpbench.data": "data",
    "vpbench.networks": "networks",
    "vpbench.methods": "methods",
    "vpbench.evaluation": "evaluation",
    "vpbench.results": "results",
    "vpbench.leaderboard": "leaderboard",
    "vpbench.annotation": "annotation",
    "vpbench.apps": "apps",
    "vpbench.cli": "cli",
    "vpbench.__main__": "main",
    "vpbench": "top",
}

# What each stage may import (besides itself).
ALLOWED = {
    "core": set(),
    "labels": {"core"},
    "data": {"core", "labels"},  # data depends on labels, never the other way
    "networks": {"core"},
    "methods": {"core", "data", "labels", "networks"},
    "evaluation": {"core", "data", "labels", "networks", "methods", "results"},
    "results": {"core"},  # the schema: no torch, nothing that imports it
    "leaderboard": {"core", "results"},
    "annotation": {"core", "data", "labels"},  # never methods
    "apps": {"core", "data", "labels", "networks", "methods", "evaluation", "results"},
    "cli": {
        "core",
        "data",
        "labels",
        "networks",
        "methods",
        "evaluation",
        "results",
        "leaderboard",
        "annotation",
        "apps",
    },
    "main": {"cli"},  # `python -m vpbench`: the only importer of the CLI
    "top": {"core", "data"},
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage(module: str) -> str | None:
    for prefix in sorted(STAGES, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return STAGES[prefix]
    return None


def _imports(path: Path):
    """(line, absolute module) of every vpbench import in ``path``; ``from pkg import sub`` names ``pkg.sub``."""
    module = _module(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (
                    node.lineno,
                    sub
                    if (PACKAGE.parent / Path(*sub.split("."))).with_suffix(".py").is_file()
                    or (PACKAGE.parent / Path(*sub.split("."))).is_dir()
                    else target,
                )


def test_every_module_belongs_to_a_stage():
    assert [p for p in PACKAGE.rglob("*.py") if _stage(_module(p)) is None] == []


def test_each_stage_imports_only_the_stages_before_it():
    forbidden = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mine = _stage(_module(path))
        for line, target in _imports(path):
            if not target.startswith("vpbench."):
                continue  # `from vpbench import __version__` is the version string, not a stage
            theirs = _stage(target)
            if theirs != mine and theirs not in ALLOWED[mine]:
                forbidden.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {mine} imports {target} ({theirs})")
    assert forbidden == []


def test_the_rules_have_no_cycle():
    seen: dict[str, int] = {}

    def visit(stage: str, path: tuple) -> None:
        assert stage not in path, f"cycle: {' -> '.join(path + (stage,))}"
        for nxt in ALLOWED[stage]:
            visit(nxt, path + (stage,))

    for stage in ALLOWED:
        visit(stage, ())
        seen[stage] = 1
    assert set(seen) == set(STAGES.values())


def test_the_tests_mirror_the_package():
    """tests/<folder>/ holds the tests of vpbench/<folder>/; tests/helpers/ the shared plain helpers; the tests at
    the top level are of the package as a whole (layout, packaging) or of a top-level module (results)."""
    tests = REPO / "tests"
    folders = {p.parent.relative_to(tests) for p in tests.rglob("test_*.py")} - {Path(".")}
    assert sorted(str(f) for f in folders if not (PACKAGE / f).is_dir()) == []
    assert (
        sorted(
            str(p.relative_to(tests))
            for p in tests.rglob("*.py")
            if p.parent != tests and not p.name.startswith(("test_", "__init__")) and "helpers" not in p.parts
        )
        == []
    )
    top = {p.stem.removeprefix("test_") for p in tests.glob("test_*.py")}
    assert sorted(t for t in top if t not in {"layout", "packaging"} and not (PACKAGE / f"{t}.py").is_file()) == []
