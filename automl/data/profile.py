"""Know the regime first: facts about the data that shape the search space and the CV plan."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from automl.data.dataset import Dataset, Modality, item_keys

# Below this many labelled rows, classical models on good features usually beat training a
# network, and repeated CV is affordable and needed: with 30 rows a 5-fold score has a
# standard error of ~8 points, repeating it 3 times brings that to ~5.
SMALL_ROWS = 2000
TINY_ROWS = 200
# Largest class count over smallest. Up to PER_CLASS the labels look gathered a fixed number
# per class, and their counts differ by sampling, not by the classes' priors; past IMBALANCED
# the skew dominates accuracy, and the default metric turns to balanced accuracy.
PER_CLASS = 1.5
IMBALANCED = 3.0


@dataclass(frozen=True)
class DataProfile:
    modality: str
    n_rows: int
    n_classes: int
    class_counts: dict[str, int]
    n_unlabelled: int = 0
    numeric_columns: tuple[str, ...] = ()
    categorical_columns: tuple[str, ...] = ()
    missing_fraction: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)  # modality-specific facts
    notes: tuple[str, ...] = ()

    @property
    def min_class_count(self) -> int:
        return min(self.class_counts.values())

    @property
    def rows_per_class(self) -> float:
        return self.n_rows / self.n_classes

    @property
    def imbalance(self) -> float:
        """Largest class count over smallest: 1.0 is balanced."""
        return max(self.class_counts.values()) / self.min_class_count

    @property
    def regime(self) -> str:
        if self.n_rows < TINY_ROWS:
            return "tiny"
        return "small" if self.n_rows < SMALL_ROWS else "medium"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(
            regime=self.regime,
            imbalance=round(self.imbalance, 3),
            rows_per_class=round(self.rows_per_class, 2),
        )
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataProfile:
        keys = cls.__dataclass_fields__
        kw = {k: v for k, v in d.items() if k in keys}
        for k in ("numeric_columns", "categorical_columns", "notes"):
            kw[k] = tuple(kw.get(k, ()))
        return cls(**kw)

    def statement(self, strategies: list[str] | None = None) -> str:
        """One paragraph on the regime, and what the search will try because of it."""
        parts = [
            f"{self.n_rows} labelled {self.modality} examples in {self.n_classes} classes "
            f"({self.rows_per_class:.1f} per class on average, smallest class {self.min_class_count}"
            f"{f', imbalance {self.imbalance:.1f}x' if self.imbalance > PER_CLASS else ''})."
        ]
        if self.modality == Modality.TABULAR.value:
            parts.append(
                f"{len(self.numeric_columns)} numeric and {len(self.categorical_columns)} categorical "
                f"feature columns, {self.missing_fraction:.1%} of values missing."
            )
        if self.n_unlabelled:
            parts.append(f"{self.n_unlabelled} unlabelled examples are available.")
        if self.regime == "tiny":
            parts.append(
                "This is the tiny-data regime: strong regularisation and repeated "
                "cross-validation matter more than model capacity."
            )
        elif self.regime == "small":
            parts.append(
                "This is the small-data regime: classical models on good features "
                "usually win and are tried first."
            )
        if self.imbalance > IMBALANCED:
            parts.append(
                "Classes are imbalanced, so class weighting is searched and the default "
                "metric is balanced accuracy."
            )
        if strategies:
            parts.append("The search space includes: " + ", ".join(strategies) + ".")
        parts.extend(self.notes)
        return " ".join(parts)


def profile_dataset(ds: Dataset, extras: dict[str, Any] | None = None) -> DataProfile:
    labels, counts = np.unique(np.asarray(ds.y).astype(str), return_counts=True)
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    missing = 0.0
    if isinstance(ds.X, pd.DataFrame):
        numeric = tuple(
            str(c)
            for c in ds.X.columns
            if pd.api.types.is_numeric_dtype(ds.X[c]) and not pd.api.types.is_bool_dtype(ds.X[c])
        )
        categorical = tuple(str(c) for c in ds.X.columns if str(c) not in numeric)
        missing = float(ds.X.isna().to_numpy().mean()) if ds.X.size else 0.0
    extras = {**ds.facts, **(extras or {})}
    notes = list(ds.notes)
    if ds.n_unlabelled:
        pool_keys = item_keys(ds.unlabelled)
        overlap = int(np.isin(pool_keys, item_keys(ds.X)).sum())
        extras["unlabelled_overlap"] = overlap
        extras["unlabelled_duplicates"] = int(len(pool_keys) - len(np.unique(pool_keys)))
        if overlap:
            notes.append(
                f"{overlap} unlabelled item(s) are identical to labelled ones; they add "
                "nothing to learn from and are kept only because they are harmless."
            )
    return DataProfile(
        modality=ds.modality.value,
        n_rows=len(ds),
        n_classes=len(labels),
        class_counts={str(k): int(v) for k, v in zip(labels, counts)},
        n_unlabelled=ds.n_unlabelled,
        numeric_columns=numeric,
        categorical_columns=categorical,
        missing_fraction=missing,
        extras=extras,
        notes=tuple(notes),
    )
