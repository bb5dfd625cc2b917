"""Featurisers whose per-item vectors are cached on disk, including augmented views.

Every item (file or text) is keyed by its content hash; every configuration (backbone,
resolution, view number, augmentation strength ...) gets its own table. A view is computed once
and then reused by every later trial, resumed search and worker, so augmentation strength can
be searched for frozen-feature learners at the cost of a lookup.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from automl.cache import ArtifactCache, make_key
from automl.components.runtime import UsesRuntime
from automl.data.dataset import item_keys
from automl.timing import timed


@lru_cache(maxsize=200_000)
def _key_of(item: str) -> str:
    return str(item_keys(np.array([item], dtype=object))[0])


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
            return compute(np.arange(len(X)))
        table = ArtifactCache(cache_dir).table(make_key(**config))
        return table.lookup_or_compute(keys, compute)
