"""Frozen pretrained models kept in memory per process: loading one costs seconds, and every
fold and trial of a search embeds with the same one or two."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class ModelCache:
    """The ``size`` most recently used models, by key (name, device, adapted weights)."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._models: OrderedDict[Hashable, Any] = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._models

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        model = make()
        self._models[key] = model
        while len(self._models) > self.size:
            self._models.popitem(last=False)
        return model

    def frozen(
        self,
        name: str,
        device: str,
        load: Callable[[], Any],
        adapted_key: str | None = None,
        state: dict | None = None,
    ) -> Any:
        """``load()``'s model in eval mode on ``device``; with ``state``, the SSL-adapted
        weights ``adapted_key`` names instead of the stock ones."""

        def make() -> Any:
            model = load()
            if state is not None:
                model.load_state_dict(state)
            return model.eval().to(device)

        return self.get((name, device, adapted_key), make)

    def clear(self) -> None:
        self._models.clear()
