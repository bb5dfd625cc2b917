"""The in-memory dataset every later stage consumes, whatever file it came from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd


class Modality(str, Enum):
    TABULAR = "tabular"
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"


@dataclass(frozen=True)
class Dataset:
    """Labelled examples (and an optional unlabelled pool) of one modality.

    ``X`` is what learners and featurisers receive, so its type is fixed per modality:
    tabular -> ``pandas.DataFrame``; text -> 1-D ``np.ndarray`` of ``str``;
    image/audio -> 1-D ``np.ndarray`` of absolute file paths (``str``).
    ``y`` holds the labels as given (strings or numbers); stages encode them as needed.
    """

    modality: Modality
    X: Any
    y: np.ndarray
    source: str
    unlabelled: Any | None = None
    notes: tuple[str, ...] = ()  # warnings worth showing in the profile (skipped files, ...)
    # What predict-time input must look like, saved in the model bundle and handed back to
    # ``automl.data.load.load_inputs``: tabular {"columns": [...]}, text {"text_columns": [...]}.
    schema: dict = field(default_factory=dict)
    # Modality-specific facts for the profile (clip durations, image sizes, ...).
    facts: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.X) != len(self.y):
            raise ValueError(f"X and y differ in length: {len(self.X)} != {len(self.y)}")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_unlabelled(self) -> int:
        return 0 if self.unlabelled is None else len(self.unlabelled)

    def fingerprint(self) -> str:
        """A content hash of the labelled data: folds and caches are keyed by it."""
        h = hashlib.sha256(self.modality.value.encode())
        h.update(content_hash(self.X).encode())
        h.update(np.asarray(self.y).astype(str).tobytes())
        return h.hexdigest()[:16]


def take(X: Any, idx: np.ndarray) -> Any:
    """Row subset of any X (DataFrame or array): the one indexing rule CV and refit share."""
    if isinstance(X, pd.DataFrame):
        return X.iloc[idx]
    return X[idx]


def concat_rows(a: Any, b: Any) -> Any:
    """Rows of ``a`` then ``b``, for any X type (the counterpart of ``take``)."""
    if isinstance(a, pd.DataFrame):
        return pd.concat([a, b[a.columns]], ignore_index=True)
    return np.concatenate(
        [np.asarray(a, dtype=object if np.asarray(a).dtype == object else None), np.asarray(b)]
    )


def item_keys(X: Any) -> np.ndarray:
    """One content key per item (row, text or file), to find duplicates and cache per item."""
    if isinstance(X, pd.DataFrame):
        return pd.util.hash_pandas_object(X, index=False).to_numpy().astype(str)
    return np.array(
        [file_hash(x) if _is_path_like(x) else hashlib.sha256(str(x).encode()).hexdigest()[:16] for x in X]
    )


def content_hash(X: Any) -> str:
    """Hash of X's content. For file paths the bytes of the files are hashed, not the names."""
    h = hashlib.sha256()
    if isinstance(X, pd.DataFrame):
        h.update(",".join(map(str, X.columns)).encode())
        h.update(pd.util.hash_pandas_object(X, index=False).values.tobytes())
    else:
        for item in X:
            h.update(file_hash(item).encode() if _is_path_like(item) else str(item).encode())
            h.update(b"\0")
    return h.hexdigest()[:16]


def _is_path_like(item: Any) -> bool:
    import os

    return isinstance(item, str) and os.path.isabs(item) and os.path.isfile(item)


def file_hash(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]
