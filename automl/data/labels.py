"""The label column: checks that stop a search that cannot work, and warnings on odd values."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from automl.exceptions import DataError, show_values
from automl.logger import log

# A numeric label with at least this many distinct values, fractional or mostly unique, is a
# quantity to regress, not classes: 150 prices are not 150 classes.
CONTINUOUS_MIN_VALUES = 20


def check_label_column(labels: pd.Series, column: str, source: str) -> None:
    """The labelled rows' values of a table's label column (missing ones already removed)."""
    if len(labels) == 0:
        raise DataError(
            f"{source}: the label column {column!r} is empty in every row, so there are no "
            "labelled examples. Fill in the labels, or pass the column that holds them with --label."
        )
    if not pd.api.types.is_numeric_dtype(labels) or pd.api.types.is_bool_dtype(labels):
        return
    values = labels.to_numpy(dtype=float)
    distinct = np.unique(values)
    fractional = bool((distinct != np.round(distinct)).any())
    if len(distinct) >= CONTINUOUS_MIN_VALUES and (fractional or len(distinct) > len(values) / 2):
        raise DataError(
            f"{source}: the label column {column!r} looks continuous ({len(distinct)} distinct "
            f"numbers in {len(values)} rows, e.g. {show_values(distinct, 3)}), but automl does "
            "classification only. Bin it into classes first (e.g. low/medium/high), or pass a "
            "categorical column with --label."
        )


def check_classes(y: np.ndarray, source: str) -> None:
    """At least two classes, each with at least two examples."""
    labels, counts = np.unique(np.asarray(y).astype(str), return_counts=True)
    if len(labels) == 0:
        raise DataError(f"{source}: there are no labelled examples. Label at least two per class.")
    if len(labels) < 2:
        raise DataError(
            f"{source}: every labelled example has the class {show_values(labels)}. A "
            "classifier needs at least two classes; add examples of the others."
        )
    singles = [str(lab) for lab, c in zip(labels, counts) if c < 2]
    if singles:
        raise DataError(
            f"{source}: class(es) [{show_values(singles, 10)}] have a single labelled example, which "
            "cannot be both trained on and validated. Add at least one more example "
            "per class, or remove those rows."
        )


def warn_label_variants(y: np.ndarray, source: str) -> None:
    """Classes that differ only in case or surrounding spaces (``cat``, ``Cat ``, `` cat``) are
    kept apart, as given, but are most likely one class typed differently."""
    groups: dict[str, set[str]] = defaultdict(set)
    for label in np.unique(np.asarray(y).astype(str)):
        groups[label.strip().casefold()].add(label)
    for variants in (sorted(v) for v in groups.values() if len(v) > 1):
        log.warning(
            "%s: the labels %s differ only in case or surrounding spaces; they are kept as %d "
            "different classes. If they are one class, clean the label column (strip spaces, "
            "one spelling) and search again.",
            source,
            show_values(variants, 10),
            len(variants),
        )
