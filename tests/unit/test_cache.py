from pathlib import Path

import numpy as np
import pytest

from automl.cache import ArtifactCache, make_key


def test_embedding_table_computes_only_misses(tmp_path: Path):
    table = ArtifactCache(tmp_path).table(make_key(backbone="b", res=64))
    calls = []

    def compute(positions):
        calls.append(list(positions))
        return np.array([[float(p), 1.0] for p in positions])

    first = table.lookup_or_compute(["a", "b", "c"], compute)
    again = table.lookup_or_compute(["c", "a", "d"], compute)
    assert calls == [[0, 1, 2], [2]]
    assert np.array_equal(again[0], first[2]) and np.array_equal(again[1], first[0])
    # A fresh reader (another trial, worker or resumed search) sees the same rows.
    fresh = ArtifactCache(tmp_path).table(make_key(backbone="b", res=64))
    mask, rows = fresh.get(["a", "d", "zzz"])
    assert mask.tolist() == [True, True, False] and rows.shape == (2, 2)


def test_keys_depend_on_every_part():
    assert make_key(a=1, b=2) == make_key(b=2, a=1)
    assert make_key(a=1, b=2) != make_key(a=1, b=3)


def test_artifact_dir_appears_only_on_success(tmp_path: Path):
    cache = ArtifactCache(tmp_path)
    with pytest.raises(RuntimeError):
        with cache.writing("k1") as d:
            (d / "weights.bin").write_bytes(b"half")
            raise RuntimeError("crash mid-write")
    assert not cache.has("k1")
    with cache.writing("k1") as d:
        (d / "weights.bin").write_bytes(b"full")
    assert (cache.path("k1") / "weights.bin").read_bytes() == b"full"
    with cache.writing("k1") as d:  # a second writer of the same key leaves the first intact
        (d / "weights.bin").write_bytes(b"full")
    assert cache.has("k1")


class _SlowFeaturizer:
    """A cached featuriser whose items take a fixed time each (the pool, embedded anew)."""

    @staticmethod
    def make(seconds_per_item: float, backbone: str = "slow"):
        import time

        from automl.components.features.cached import CachedViewFeaturizer

        class Slow(CachedViewFeaturizer):
            def __init__(self, views: int = 0, strength: float = 0.0, seed: int = 0):
                self.views, self.strength, self.seed = views, strength, seed
                self.computed = 0

            def _config(self):
                return {"kind": "test", "backbone": backbone}

            def _compute(self, items, view, seeds):
                time.sleep(seconds_per_item * len(items))
                self.computed += len(items)
                return np.array([[float(len(str(i)))] for i in items])

        return Slow()


def test_a_one_off_embedding_that_cannot_finish_is_skipped_and_keeps_its_chunks(tmp_path: Path):
    from automl.cache.store import CHUNK
    from automl.components.runtime import Runtime, Unaffordable

    items = np.array([f"pool-{i}" for i in range(4 * CHUNK)], dtype=object)
    slow = _SlowFeaturizer.make(0.001)  # ~0.26 s a chunk, ~1 s in all
    slow.set_runtime(Runtime(cache_dir=str(tmp_path), one_off_seconds=0.5))
    with pytest.raises(Unaffordable, match="more items"):
        slow.transform(items)
    assert slow.computed == CHUNK  # measured on one chunk, which stays cached
    slow.set_runtime(Runtime(cache_dir=str(tmp_path)))  # no limit (a refit, or time enough)
    assert slow.transform(items).shape == (4 * CHUNK, 1)
    assert slow.computed == 4 * CHUNK  # the cached chunk was not computed again


def test_ensemble_members_with_one_featuriser_compute_it_once_per_prediction():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from automl.components.features.cached import shared_views
    from automl.components.runtime import Runtime
    from automl.pipeline.ensemble import EnsembleClassifier

    X = np.array([f"item-{i}{'ab'[i % 2]}" for i in range(20)], dtype=object)
    y = np.arange(20) % 2
    # Three members on backbone b1, one on b2; no cache folder, as a saved model predicts.
    b1 = [_SlowFeaturizer.make(0.0, "b1").set_runtime(Runtime()) for _ in range(3)]
    b2 = _SlowFeaturizer.make(0.0, "b2").set_runtime(Runtime())
    members = [make_pipeline(f, LogisticRegression(C=c)) for f, c in zip(b1 + [b2], (0.1, 1.0, 10.0, 1.0))]
    ens = EnsembleClassifier(members, [0.25] * 4)
    ens.members_ = [m.fit(X, y) for m in ens.members]
    ens.classes_ = np.array([0, 1])

    def computed() -> tuple[int, int]:
        counts = sum(f.computed for f in b1), b2.computed
        for f in b1 + [b2]:
            f.computed = 0
        return counts

    computed()
    plain = ens.predict_proba(X)
    assert computed() == (3 * 20, 20)  # without the block each member embeds the items itself

    with shared_views():
        shared = ens.predict_proba(X)
        assert computed() == (20, 20)  # once for b1's three members, once for b2
        ens.predict_proba(X[:5])  # other items are other vectors, never another item's
        assert computed() == (5, 5)
    np.testing.assert_array_equal(shared, plain)

    ens.predict_proba(X)  # the block's memory is gone after it
    assert computed() == (3 * 20, 20)
