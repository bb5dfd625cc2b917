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
