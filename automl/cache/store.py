"""Content-addressed on-disk cache for expensive results (embeddings, adapted backbones).

Keys are hashes of everything that determines the result, so a hit is always valid and the
cache can be shared by trials, resumed searches and workers on a shared path. Every write goes
to a temporary name first and is published with an atomic ``os.replace``: a reader never sees
a half-written file, and two writers of the same key simply both produce the same content.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Items embedded between two writes to the cache: ~10-60 s of a CPU's work for images.
CHUNK = 256


def make_key(**parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


class EmbeddingTable:
    """Per-item vectors for one configuration (backbone, weights, resolution, view ...).

    Items are addressed by their content hash, so any subset (a CV fold, the refit set, new
    data at predict time) reuses rows computed for another. Rows are stored in shard files,
    one per ``put``; concurrent writers write different shards.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._index: dict[str, np.ndarray] = {}
        self._seen: set[str] = set()

    def _refresh(self) -> None:
        for shard in sorted(self.root.glob("*.npz")):
            if shard.name in self._seen:
                continue
            with np.load(shard, allow_pickle=False) as z:
                for k, row in zip(z["keys"], z["vectors"]):
                    self._index[str(k)] = row
            self._seen.add(shard.name)

    def get(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """(found mask, matrix of the found rows in order, or None if none found)."""
        self._refresh()
        mask = np.array([k in self._index for k in keys], dtype=bool)
        rows = [self._index[k] for k, hit in zip(keys, mask) if hit]
        return mask, (np.stack(rows) if rows else None)

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        if len(keys) == 0:
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        name = f"{uuid.uuid4().hex}.npz"
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, keys=np.asarray(list(keys), dtype=str), vectors=vectors)
        os.replace(tmp, self.root / name)
        for k, row in zip(keys, vectors):
            self._index[k] = row
        self._seen.add(name)

    def lookup_or_compute(
        self, keys: Sequence[str], compute, chunk: int = CHUNK, on_missing=None
    ) -> np.ndarray:
        """Rows for ``keys``; ``compute(missing_positions) -> matrix`` fills the misses, a
        ``chunk`` of items at a time, each stored as it is done: a step stopped by its deadline
        keeps what it computed, and the next trial starts from there. ``on_missing(n)`` hears
        how many distinct items will be computed, before the first chunk."""
        mask, _ = self.get(keys)
        missing = np.flatnonzero(~mask)
        if len(missing):
            unique: dict[str, int] = {}
            for pos in missing.tolist():
                unique.setdefault(keys[pos], pos)
            names, positions = list(unique), list(unique.values())
            if on_missing is not None:
                on_missing(len(names))
            for i in range(0, len(names), chunk):
                self.put(names[i : i + chunk], compute(np.array(positions[i : i + chunk])))
        return np.stack([self._index[k] for k in keys])


# One in-memory index per table folder and process: every fold and trial of a search looks
# its items up in memory instead of re-reading the table's shards from disk, and shards that
# other processes add are picked up on the next lookup.
_OPEN_TABLES: dict[Path, EmbeddingTable] = {}


class ArtifactCache:
    """The cache root. ``table(ns)`` for embeddings, ``directory(key)`` for whole artefacts."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def table(self, namespace: str) -> EmbeddingTable:
        folder = (self.root / "embeddings" / namespace).resolve()
        if folder not in _OPEN_TABLES or not folder.is_dir():
            _OPEN_TABLES[folder] = EmbeddingTable(folder)
        return _OPEN_TABLES[folder]

    def path(self, key: str) -> Path:
        return self.root / "artifacts" / key

    def has(self, key: str) -> bool:
        return self.path(key).is_dir()

    @contextlib.contextmanager
    def writing(self, key: str) -> Iterator[Path]:
        """Write an artefact directory; it appears under its key only if the block succeeds."""
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key}-"))
        try:
            yield tmp
            try:
                os.replace(tmp, final)
            except OSError:  # another writer published first: theirs is equally valid
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
