"""Class probabilities with one column per class of the problem, whatever classes a model saw."""

from __future__ import annotations

from typing import Any

import numpy as np


def aligned_proba(model: Any, X: Any, n_classes: int) -> np.ndarray:
    """predict_proba with one column per class 0..K-1: a fold model may not have seen every
    class, and an ensemble's members must be averaged column by column."""
    proba = np.asarray(model.predict_proba(X), dtype=float)
    classes = np.asarray(getattr(model, "classes_", np.arange(proba.shape[1])), dtype=int)
    if proba.shape[1] == n_classes and np.array_equal(classes, np.arange(n_classes)):
        return proba
    out = np.zeros((proba.shape[0], n_classes))
    out[:, classes] = proba
    return out
