"""Featurisers whose per-item vectors are cached on disk, including augmented views.

Every item (file or text) is keyed by its content hash; every configuration (backbone,
resolution, view number, augmentation strength ...) gets its own table. A view is computed once
and then reused by every later trial, resumed search and worker, so augmentation strength can
be searched for frozen-feature learners at the cost of a lookup.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from automl.cache import ArtifactCache, make_key
from automl.components.runtime import Unaffordable, UsesRuntime
from automl.data.dataset import item_keys
from automl.timing import timed


@lru_cache(maxsize=200_000)
def _key_of(item: str) -> str:
    return str(item_keys(np.array([item], dtype=object))[0])


# Vectors computed without a cache folder inside a ``shared_views()`` block, by configuration
# and items. None outside such a block.
_SHARED: ContextVar[dict[str, np.ndarray] | None] = ContextVar("shared_views", default=None)


@contextmanager
def shared_views() -> Iterator[None]:
    """Within the block, featurisers that have no cache folder share what they compute, in
    memory: the members of an exported ensemble that embed the same items with the same
    backbone and resolution (five of seven in a cifar10-few ensemble) embed them once per
    prediction instead of once each. Nothing is written, and the memory is freed at the end
    of the outermost block."""
    if _SHARED.get() is not None:
        yield
        return
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


class CachedViewFeaturizer(UsesRuntime, TransformerMixin, BaseEstimator):
    """Subclasses set ``views``, ``strength``, ``seed`` as constructor params and implement
    ``_config()`` and ``_compute(items, view, seeds)``. The cache folder is the runtime's: a
    search caches every view it computes; a saved model predicts without writing one unless
    its user asks for a cache."""

    def _config(self) -> dict[str, Any]:
        raise NotImplementedError

    def _compute(self, items: np.ndarray, view: int, seeds: list[int]) -> np.ndarray:
        """Vectors for ``items``; ``view`` 0 is the plain one, others augmented with the
        per-item ``seeds`` (deterministic, so a cached view is the view it claims to be)."""
        raise NotImplementedError

    def fit(self, X, y=None):
        return self

    def transform(self, X) -> np.ndarray:
        return self._view(X, 0)

    def augmented_views(self, X) -> list[np.ndarray]:
        if self.strength <= 0:
            return []
        return [self._view(X, v) for v in range(1, self.views + 1)]

    def _view(self, X, view: int) -> np.ndarray:
        X = np.asarray(X, dtype=object)
        keys = [_key_of(x) for x in X]
        config = {
            **self._config(),
            "view": view,
            "strength": round(float(self.strength), 3) if view else 0,
            "seed": self.seed if view else 0,
        }

        def compute(positions: np.ndarray) -> np.ndarray:
            seeds = [int(keys[p][:8], 16) ^ (self.seed * 1_000_003 + view) for p in positions]
            with timed("embedding"):
                return np.asarray(self._compute(X[positions], view, seeds), dtype=np.float32)

        cache_dir = self.runtime.cache_dir
        if not cache_dir:
            shared = _SHARED.get()
            if shared is None:
                return compute(np.arange(len(X)))
            key = make_key(**config, items=hashlib.sha256("\n".join(keys).encode()).hexdigest())
            if key not in shared:
                shared[key] = compute(np.arange(len(X)))
            return shared[key].copy()
        table = ArtifactCache(cache_dir).table(make_key(**config))
        seconds = self.runtime.one_off_seconds
        if seconds is None:
            return table.lookup_or_compute(keys, compute)
        paced, expect = _paced(compute, seconds, f"{self._describe()}, view {view}")
        return table.lookup_or_compute(keys, paced, on_missing=expect)

    def _describe(self) -> str:
        config = self._config()
        named = [str(config[k]) for k in ("backbone", "encoder", "resolution") if k in config]
        return " ".join(named) or type(self).__name__


def _paced(compute, seconds: float, what: str):
    """(``compute`` paced, ``expect(total)``). The paced ``compute`` is called a chunk at a
    time (each chunk cached as it is done) and raises Unaffordable before a chunk when the pace
    so far says the ``total`` items would not be done within ``seconds``. The chunks already
    computed stay cached for the next trial."""
    total, done, spent = 0, 0, 0.0

    def expect(n: int) -> None:
        nonlocal total
        total = n

    def paced(positions: np.ndarray) -> np.ndarray:
        nonlocal done, spent
        if done:
            need = spent / done * (total - done)
            if need > seconds - spent:
                raise Unaffordable(
                    f"embedding {total - done} more items ({what}) would take ~{need:.0f}s at the "
                    f"measured pace, more than the {max(0.0, seconds - spent):.0f}s it may use now; "
                    f"skipped, the {done} done are cached for the next trial that needs them"
                )
        t0 = time.monotonic()
        out = compute(positions)
        spent += time.monotonic() - t0
        done += len(positions)
        return out

    return paced, expect
