"""A small generic registry with Python entry points for plugins.

Built-in entries register directly; third-party packages declare an entry
point in a group (``vpbench.methods``, ``vpbench.datasets``) and are loaded
lazily the first time the registry is read. Every entry records its origin
(``builtin`` or the distribution that declared it), which ``vpbench methods``
shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Generic, TypeVar

from .errors import VPBenchError, unknown_name_error

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    origin: str


class Registry(Generic[T]):
    def __init__(self, kind: str, group: str | None = None, base: type | None = None) -> None:
        self.kind = kind
        self.group = group
        self.base = base
        self._entries: dict[str, Entry[T]] = {}
        self._plugins_loaded = group is None

    def register(self, name: str, obj: T, origin: str = "builtin") -> T:
        if name in self._entries:
            raise VPBenchError(f"{self.kind} '{name}' is registered twice ({self._entries[name].origin} and {origin})")
        if self.base is not None and not (
            isinstance(obj, self.base) or (isinstance(obj, type) and issubclass(obj, self.base))
        ):
            raise VPBenchError(f"{self.kind} '{name}' from {origin} is not a {self.base.__name__}")
        self._entries[name] = Entry(name, obj, origin)
        return obj

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in sorted(metadata.entry_points(group=self.group), key=lambda e: e.name):
            if ep.name in self._entries:
                continue
            origin = ep.dist.name if ep.dist is not None else ep.value
            try:
                obj = ep.load()
            except Exception as exc:
                raise VPBenchError(f"{self.kind} plugin '{ep.name}' ({ep.value}) failed to load: {exc}") from exc
            self.register(ep.name, obj, origin=origin)

    def entries(self) -> list[Entry[T]]:
        self._load_plugins()
        return [self._entries[k] for k in sorted(self._entries)]

    def names(self) -> list[str]:
        return [e.name for e in self.entries()]

    def entry(self, name: str) -> Entry[T]:
        self._load_plugins()
        if name not in self._entries:
            raise unknown_name_error(self.kind, name, self._entries)
        return self._entries[name]

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def __contains__(self, name: str) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
