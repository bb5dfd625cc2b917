"""Text in tables: which columns hold free text, and the text Dataset built from them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from automl.data.dataset import Dataset, Modality
from automl.exceptions import DataError

SEPARATOR = " | "
# A column is free text when its values are mostly distinct and read like phrases: more than
# ~3 words on average. Categorical strings ("red", "NY") are short and repeat.
MIN_MEAN_WORDS = 3.0
MIN_UNIQUE_FRACTION = 0.5
# Encoders read at most a few hundred word pieces; beyond this many words a document is
# truncated by every encoder in the space (TF-IDF still sees all of it).
LONG_WORDS = 400


def text_columns(X: pd.DataFrame, text_column: str | None, source: str) -> list[str]:
    if text_column:
        cols = [c.strip() for c in text_column.split(",")]
        missing = [c for c in cols if c not in X.columns]
        if missing:
            raise DataError(
                f"Text column(s) {missing} not in {source}. Columns: "
                f"{', '.join(X.columns)}. Pass existing names to --text."
            )
        return cols
    found = []
    for c in X.columns:
        s = X[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        values = s.dropna().astype(str)
        if len(values) == 0:
            continue
        words = values.str.split().str.len().mean()
        if words > MIN_MEAN_WORDS and values.nunique() / len(values) >= MIN_UNIQUE_FRACTION:
            found.append(c)
    return found


def join_text(X: pd.DataFrame, cols: list[str]) -> np.ndarray:
    parts = X[cols].astype(object).fillna("").astype(str)
    return parts.agg(lambda r: SEPARATOR.join(v for v in r if v.strip()), axis=1).to_numpy(dtype=object)


def make_text_dataset(
    X: pd.DataFrame, y: np.ndarray, cols: list[str], source: str, pool: pd.DataFrame | None
) -> Dataset:
    texts = join_text(X, cols)
    empty = np.flatnonzero([not t.strip() for t in texts])
    if len(empty) == len(texts):
        raise DataError(
            f"{source}: the text column(s) {cols} are empty in every labelled row. Pass the "
            "column(s) that hold the text with --text."
        )
    if len(empty):
        raise DataError(
            f"{source}: {len(empty)} labelled row(s) have empty text in {cols} "
            f"(first rows: {[int(i) + 2 for i in empty[:5]]}, counting the header as line 1). "
            "Remove them or fill in the text."
        )
    notes = [f"Text from column(s) {cols}."]
    words = np.array([len(t.split()) for t in texts])
    facts = {
        "words_median": float(np.median(words)),
        "words_p90": float(np.percentile(words, 90)),
        "words_max": int(words.max()),
    }
    if (words > LONG_WORDS).any():
        notes.append(
            f"{int((words > LONG_WORDS).sum())} document(s) have more than {LONG_WORDS} words "
            f"(longest {int(words.max())}); frozen encoders read them as the mean of consecutive "
            "windows, fine-tuned ones read the first window only (TF-IDF sees all the text)."
        )
    unl = None
    if pool is not None and set(cols) <= set(pool.columns):
        unl = join_text(pool, cols)
        unl = unl[[bool(t.strip()) for t in unl]]
    return Dataset(
        Modality.TEXT,
        texts,
        y,
        source,
        unlabelled=unl,
        notes=tuple(notes),
        schema={"text_columns": list(cols)},
        facts=facts,
    )


def load_text_inputs(df: pd.DataFrame, schema: dict, source: str) -> np.ndarray:
    """Predict-time texts from a table with the training text columns."""
    cols = schema["text_columns"]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(
            f"{source} lacks text column(s) {missing} that the model was trained on. "
            f"This file has: {list(df.columns)}."
        )
    return join_text(df, cols)
