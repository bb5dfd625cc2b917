"""CSV / Parquet / JSONL tables: reading, label detection and validation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from automl.exceptions import DataError, LabelColumnUnknown

TABLE_SUFFIXES = {".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".json"}
LABEL_CANDIDATES = ("label", "target", "class", "y")


def read_table(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DataError(f"Data file {path} does not exist. Check the path passed to --data.")
    if path.stat().st_size == 0:
        raise DataError(
            f"Data file {path} is empty (0 bytes). Point --data at a file with a header "
            "row and at least a few labelled rows."
        )
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {suffix!r}. Use one of "
            f"{', '.join(sorted(TABLE_SUFFIXES))}, or a folder of images/audio clips."
        )
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif suffix in (".jsonl", ".json"):
            df = pd.read_json(path, lines=suffix == ".jsonl")
        else:
            df = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path} is not valid UTF-8 (byte {e.start}: {e.reason}). Re-save it as "
            "UTF-8, e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`."
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as e:
        raise DataError(f"Cannot read {path} as a {suffix[1:].upper()} table: {e}") from None
    if df.shape[1] == 0 or len(df) == 0:
        raise DataError(f"{path} has no rows or no columns. It needs a header row and data rows.")
    df.columns = [str(c) for c in df.columns]
    return df


def detect_label(df: pd.DataFrame, label: str | None, source: str) -> str:
    if label is not None:
        if label not in df.columns:
            raise DataError(
                f"Label column {label!r} is not in {source}. Columns: "
                f"{', '.join(df.columns)}. Pass one of them with --label."
            )
        return label
    lower = {c.lower(): c for c in df.columns}
    for cand in LABEL_CANDIDATES:
        if cand in lower:
            return lower[cand]
    raise LabelColumnUnknown(
        f"Cannot tell which column of {source} is the label (none is called "
        f"{'/'.join(LABEL_CANDIDATES)}). Columns: {', '.join(df.columns)}. "
        "Pass it with --label COLUMN.",
        list(df.columns),
    )


def split_labelled(df: pd.DataFrame, label: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows with a label, and rows without one (the unlabelled pool)."""
    has = df[label].notna() & (df[label].astype(str).str.strip() != "")
    return df[has].reset_index(drop=True), df[~has].drop(columns=[label]).reset_index(drop=True)


def check_columns(expected: list[str], got: pd.DataFrame, source: str) -> pd.DataFrame:
    """Columns at predict time must be the training columns (extra ones are ignored)."""
    missing = [c for c in expected if c not in got.columns]
    if missing:
        raise DataError(
            f"{source} lacks column(s) {missing} that the model was trained on. "
            f"Training columns: {expected}; this file has: {list(got.columns)}."
        )
    return got[expected]
