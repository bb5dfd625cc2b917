"""One generic registry, used for every pluggable kind (learners, featurisers, backbones, ...).

Modelled on timm's ``register_model``/``create_model``: a component registers a frozen ``*Info``
record under a unique name; lookups of unknown names fail with a did-you-mean.
"""
from __future__ import annotations

import difflib
from typing import Generic, Iterator, TypeVar

from automl.exceptions import SearchSpaceError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, info: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice; names must be unique")
        self._items[name] = info
        return info

    def unregister(self, name: str) -> None:
        """Drop an entry (plug-ins and tests that register temporary ones)."""
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise SearchSpaceError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._items), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        return f"Unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._items))}."

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)
