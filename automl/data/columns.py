"""Feature columns of a table that would mislead a learner, found once per search: empty
columns, identifiers, dates, numbers with a stray word, infinities. Each is handled with one
warning naming the column and what was done; ``ColumnPlan.schema`` keeps what predict must
repeat on new rows (dates become the same numbers)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from automl.exceptions import show_values
from automl.logger import log

# Name tokens of identifier columns (``row_id``, ``CustomerID``, ``uuid``, ``Unnamed: 0``).
ID_TOKENS = {"id", "uuid", "guid", "idx", "index", "key", "row", "rowid", "unnamed"}
UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I)
# ISO dates (2024-01-31, with an optional time) and day/month/year forms (31/01/2024, 1.2.2024).
DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}.*)?$|^\d{1,2}[/.]\d{1,2}[/.]\d{4}$")
DATE_PARTS = ("year", "month", "day_of_week", "day_of_year")
# A column is dates when this share of its values reads as dates; the rest become missing.
MIN_DATE_SHARE = 0.9
# Identifiers are only told apart from features on enough rows: every small column is unique.
MIN_ID_ROWS = 10


@dataclass(frozen=True)
class ColumnPlan:
    """What to do to a table's feature columns, decided on the training file."""

    drop: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()  # encoded as <col>_year, <col>_month, ...
    numeric: tuple[str, ...] = ()  # mostly numbers: the words in them become missing
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def schema(self) -> dict:
        """What predict needs beyond the column list (nothing, for most tables)."""
        return {"dates": list(self.dates)} if self.dates else {}


def plan_columns(X: pd.DataFrame, source: str) -> ColumnPlan:
    """Decide, and warn once per column, on the feature columns of the training file.
    ``X``'s index is the file's row order: line numbers are index + 2 (the header is line 1)."""
    drop, dates, numeric, notes = [], [], [], []

    def note(text: str) -> None:
        notes.append(text)
        log.warning("%s", text)

    for col in X.columns:
        s = X[col]
        if _is_empty(s):
            drop.append(col)
            note(f"{source}: column {col!r} is empty in every row; it is dropped.")
        elif _is_identifier(col, s):
            drop.append(col)
            note(
                f"{source}: column {col!r} holds a different value in every row, like an "
                "identifier; it is dropped (a row's id says nothing about its class). Rename it "
                "if it is a real feature."
            )
        elif _counts_rows(s):
            note(
                f"{source}: column {col!r} counts 0, 1, 2 ... (or 1, 2, 3 ...) in file order, like "
                "a row number. It is kept, as its name is not an id's; if it is a row number, "
                "drop it: it would teach the order of the file, not the classes."
            )
        elif _is_date(s):
            dates.append(col)
            names = ", ".join(f"{col}_{p}" for p in DATE_PARTS)
            note(f"{source}: column {col!r} holds dates; they are encoded as the numbers {names}.")
        elif is_text(s) and (words := _words(s)) is not None:
            if len(words) <= 0.5 * s.notna().sum():
                numeric.append(col)
                where = ", ".join(f"line {i + 2}: {str(v)!r}" for i, v in words.head(3).items())
                note(
                    f"{source}: column {col!r} holds numbers and {len(words)} value(s) that are "
                    f"not ({where}); those are read as missing. Fix them, or leave the cells empty."
                )
            else:
                note(
                    f"{source}: column {col!r} mixes numbers and words (mostly words, e.g. "
                    f"{show_values(words.unique(), 3)}); it is read as categorical."
                )
    return ColumnPlan(tuple(drop), tuple(dates), tuple(numeric), tuple(notes))


def apply_plan(X: pd.DataFrame, plan: ColumnPlan, source: str) -> pd.DataFrame:
    """The plan applied to any rows (training, unlabelled pool); infinities become missing."""
    X = X.drop(columns=[c for c in plan.drop if c in X.columns])
    X = encode_dates(X, plan.dates)
    for col in plan.numeric:
        if col in X.columns:
            X[col] = pd.to_numeric(X[col], errors="coerce")
    return infinite_as_missing(X, source)


def encode_dates(X: pd.DataFrame, dates: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Each date column replaced by its year, month, day of week and day of year, in place."""
    if not any(c in X.columns for c in dates):
        return X
    parts = []
    for col in X.columns:
        if col not in dates:
            parts.append(X[[col]])
            continue
        d = _parse_dates(X[col])
        values = {p: getattr(d.dt, p) for p in DATE_PARTS}
        parts.append(pd.DataFrame({f"{col}_{p}": v.astype(float) for p, v in values.items()}, index=X.index))
    return pd.concat(parts, axis=1)


def infinite_as_missing(X: pd.DataFrame, source: str) -> pd.DataFrame:
    """+/-inf in number columns is read as missing, with a warning (predict does the same)."""
    numbers = X.select_dtypes("number")
    counts = {c: int(np.isinf(numbers[c].to_numpy(dtype=float)).sum()) for c in numbers.columns}
    infinite = {c: n for c, n in counts.items() if n}
    if not infinite:
        return X
    log.warning(
        "%s: infinite values (inf, -inf) are read as missing: %s.",
        source,
        ", ".join(f"{n} in column {c!r}" for c, n in infinite.items()),
    )
    X = X.copy()
    X[list(infinite)] = X[list(infinite)].replace([np.inf, -np.inf], np.nan)
    return X


def _is_empty(s: pd.Series) -> bool:
    return bool((s.isna() | (s.astype(str).str.strip() == "")).all())


def _is_identifier(name: str, s: pd.Series) -> bool:
    """Unique in every row, integer or string, and named like an id, or holding UUIDs.
    Unique floats are measurements, not ids."""
    if len(s) < MIN_ID_ROWS or s.isna().any() or s.nunique() != len(s):
        return False
    if pd.api.types.is_integer_dtype(s):
        return _id_name(name)
    if not is_text(s) or not s.map(lambda v: isinstance(v, str)).all():
        return False
    return _id_name(name) or bool(s.str.fullmatch(UUID).all())


def _counts_rows(s: pd.Series) -> bool:
    """0/1, 1/2, 2/3 ... in file order: a row number under another name."""
    if len(s) < MIN_ID_ROWS or not pd.api.types.is_integer_dtype(s) or s.isna().any():
        return False
    return s.iloc[0] in (0, 1) and bool((np.diff(s.to_numpy()) == 1).all())


def _id_name(name: str) -> bool:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name))  # CustomerID -> Customer ID
    return any(t in ID_TOKENS for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t)


def _is_date(s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    if not is_text(s):
        return False
    values = s.dropna().astype(str).str.strip()
    if values.empty or values.str.fullmatch(DATE).mean() < MIN_DATE_SHARE:
        return False
    return bool(_parse_dates(values).notna().mean() >= MIN_DATE_SHARE)


def _parse_dates(s: pd.Series) -> pd.Series:
    """ISO dates first; the rest by pandas' reading of each value (month first: 01/31/2024)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return s
    iso = pd.to_datetime(s, errors="coerce", format="ISO8601", utc=True)
    rest = pd.to_datetime(s[iso.isna()], errors="coerce", format="mixed", utc=True)
    return iso.fillna(rest)


def is_text(s: pd.Series) -> bool:
    """Strings (object, or pandas' string dtype since pandas 3), not numbers or dates."""
    return s.dtype == object or isinstance(s.dtype, pd.StringDtype)


def _words(s: pd.Series) -> pd.Series | None:
    """The non-numeric values of a text column that also holds numbers, else None."""
    values = s.dropna()
    values = values[values.astype(str).str.strip() != ""]
    as_numbers = pd.to_numeric(values, errors="coerce")
    if as_numbers.notna().sum() == 0 or as_numbers.isna().sum() == 0:
        return None
    return values[as_numbers.isna()]
