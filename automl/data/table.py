"""CSV / Parquet / JSONL tables: reading, label detection and validation."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from automl.exceptions import DataError, LabelColumnUnknown, first_line, show_values
from automl.logger import log

TABLE_SUFFIXES = {".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".json"}
LABEL_CANDIDATES = ("label", "target", "class", "y")
SEPARATORS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
# Text tables hold no NUL bytes and few control characters; past this share of the first
# bytes the file is binary (a spreadsheet, an archive, an image renamed .csv).
MAX_CONTROL_SHARE = 0.05
SNIFF_BYTES = 8192
_DELIMITED = (
    "Every row needs as many fields as the header: quote fields that contain the separator "
    "or a line break, and check that the file was saved whole."
)
READ_FIXES = {
    ".csv": _DELIMITED,
    ".tsv": _DELIMITED,
    ".jsonl": "Each line must be one JSON object with the same keys (JSON Lines).",
    ".json": "The file must hold records: a list of objects with the same keys.",
    ".parquet": "It is not a readable Parquet file: export it again, or save the table as CSV.",
    ".pq": "It is not a readable Parquet file: export it again, or save the table as CSV.",
}


def first_bad_utf8(path: Path, chunk: int = 1 << 20) -> str | None:
    """Where the first byte that is not UTF-8 is ("line 3, byte 15: 0xe9"), or None. The
    parser's own position counts from the start of its buffer, not of the file."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 1
    with open(path, "rb") as f:
        while block := f.read(chunk):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as e:
                # e.object is the decoder's held-back tail of the last block (a partial
                # character, no newline in it) followed by this block.
                at = offset - (len(e.object) - len(block)) + e.start
                line = lines + e.object[: e.start].count(b"\n")
                return f"line {line}, byte {at}: 0x{e.object[e.start]:02x}"
            offset += len(block)
            lines += block.count(b"\n")
    return None


def read_table(path: Path, flag: str = "--data") -> pd.DataFrame:
    """The table at ``path``; ``flag`` is the option that named it, for the messages."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"Data file {path} does not exist. Check the path passed to {flag}.")
    if path.stat().st_size == 0:
        raise DataError(
            f"Data file {path} is empty (0 bytes). Point {flag} at a file with a header row and data rows."
        )
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {suffix!r}. Use one of "
            f"{', '.join(sorted(TABLE_SUFFIXES))}, or a folder of images/audio clips."
        )
    sep = "\t" if suffix == ".tsv" else ","
    if suffix not in (".parquet", ".pq"):
        check_text_file(path)
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif suffix in (".jsonl", ".json"):
            df = pd.read_json(path, lines=suffix == ".jsonl")
        else:
            df = pd.read_csv(path, sep=sep, encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path} is not valid UTF-8 ({first_bad_utf8(path) or e.reason}). Re-save it as "
            "UTF-8, e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`."
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as e:
        first = first_line(e)
        raise DataError(
            f"Cannot read {path} as a {suffix[1:].upper()} table ({first}). {READ_FIXES[suffix]}"
        ) from None
    if df.shape[1] == 0 or len(df) == 0:
        raise DataError(f"{path} has no rows or no columns. It needs a header row and data rows.")
    df.columns = [str(c) for c in df.columns]
    if suffix in (".csv", ".tsv"):
        check_separator(df, path, sep)
        warn_duplicate_names(path, sep)
    return df


def check_text_file(path: Path) -> None:
    """Refuse binary files and UTF-16 before pandas reports them as a decoding error."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(
            f"{path} is UTF-16 text (Excel's 'Unicode Text'). Save it as 'CSV UTF-8', or convert "
            f"it: `iconv -f utf-16 -t utf-8 {path.name} > {path.stem}-utf8{path.suffix}`."
        )
    control = sum(b < 32 and b not in (9, 10, 13) for b in head)
    if b"\0" in head or control > MAX_CONTROL_SHARE * len(head):
        kind = "a zip archive (an .xlsx workbook?)" if head.startswith(b"PK\x03\x04") else "binary data"
        raise DataError(
            f"{path} is not a text table: its first bytes are {kind}, not CSV text. Export the "
            "data as CSV (UTF-8) or Parquet and pass that file to --data."
        )


def check_separator(df: pd.DataFrame, path: Path, sep: str) -> None:
    """One column whose name holds another separator: the file uses that separator."""
    if df.shape[1] != 1:
        return
    header = df.columns[0]
    found = [(header.count(s), s) for s in SEPARATORS if s != sep and s in header]
    if not found:
        return
    other = max(found)[1]
    fix = {",": "Rename it to .csv", "\t": "Rename it to .tsv"}.get(
        other, "Save it comma-separated (.csv) or tab-separated (.tsv)"
    )
    shown = header if len(header) <= 60 else header[:57] + "..."
    raise DataError(
        f"{path} was read as one column called {shown!r}: the file looks {SEPARATORS[other]}-separated, "
        f"but {path.suffix} files are read as {SEPARATORS[sep]}-separated. {fix}."
    )


def warn_duplicate_names(path: Path, sep: str) -> None:
    """pandas renames a repeated column ``x`` to ``x.1``; say so, from the header line itself."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        names = next(csv.reader(f, delimiter=sep), [])
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        log.warning(
            "%s: duplicate column name(s) %s; the repeats are read as %s. Give every column its own name.",
            path,
            show_values(repeated),
            show_values([f"{n}.1" for n in repeated]),
        )


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
