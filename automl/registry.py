"""One generic registry, used for every pluggable kind (learners, featurisers, backbones, ...).

Modelled on timm's ``register_model``/``create_model``: a component registers a frozen ``*Info``
record under a unique name; lookups of unknown names fail with a did-you-mean.

A registry whose entries live in other modules names them once (``modules``) and imports them
on its first lookup, so ``import automl`` and serving a saved model never import component
code they do not use, and no caller has to remember to "load the catalog" first.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from typing import Generic, TypeVar

from automl.exceptions import SearchSpaceError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, modules: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._modules = modules
        self._loaded = not modules
        self._loading = False
        self._items: dict[str, T] = {}

    def _load(self) -> None:
        """Import the modules that register this registry's entries (once, on first use)."""
        if self._loaded or self._loading:
            return
        self._loading = True  # an entry module may look itself up while registering
        try:
            for name in self._modules:
                importlib.import_module(name)
            self._loaded = True
        finally:
            self._loading = False

    def register(self, name: str, info: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice; names must be unique")
        self._items[name] = info
        return info

    def unregister(self, name: str) -> None:
        """Drop an entry (plug-ins and tests that register temporary ones)."""
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            raise SearchSpaceError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        self._load()
        close = difflib.get_close_matches(name, list(self._items), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        return f"Unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._items))}."

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        self._load()
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        self._load()
        return len(self._items)
