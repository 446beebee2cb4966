"""One generic registry, as torchvision's model registry: names -> entries, filled by decorators.

Every table of named things (backbones, classifiers, reducers, generators, detector kinds,
reference networks, engines) is a `Registry`: it refuses a name registered twice, lists its
names sorted, and answers an unknown name with the one-line `UnknownNameError` that lists the
valid ones. What an entry is (a factory, an info record) is each registry's own business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import UnknownNameError

V = TypeVar("V")
F = TypeVar("F", bound=Callable)


class Registry(Generic[V]):
    """Names of one kind ("backbone", "engine", ...) -> their entries."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, V] = {}

    def add(self, name: str, entry: V) -> V:
        """Register `entry` under `name`; a name registered twice is a programming error."""
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' registered twice")
        self._entries[name] = entry
        return entry

    def register(self, entry: Callable[[str, F], V] | None = None, name: str | None = None) -> Callable[[F], F]:
        """A decorator registering a factory under its function name (or `name`); `entry(name,
        factory)` makes the stored record (default: the factory itself)."""

        def decorate(factory: F) -> F:
            key = name or factory.__name__
            self.add(key, entry(key, factory) if entry else factory)  # type: ignore[arg-type]
            return factory

        return decorate

    def __getitem__(self, name: str) -> V:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def values(self) -> list[V]:
        return [self._entries[name] for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
