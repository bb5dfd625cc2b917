"""Load any supported input into a validated ``Dataset``: the one entry point for data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from automl.data.audio import AUDIO_SUFFIXES
from automl.data.dataset import Dataset, Modality
from automl.data.images import IMAGE_SUFFIXES
from automl.data.table import detect_label, read_table, split_labelled
from automl.exceptions import DataError
from automl.logger import log


def folder_modality(path: Path) -> Modality:
    suffixes = {p.suffix.lower() for p in path.rglob("*") if p.is_file()}
    if suffixes & IMAGE_SUFFIXES:
        return Modality.IMAGE
    if suffixes & AUDIO_SUFFIXES:
        return Modality.AUDIO
    raise DataError(
        f"Folder {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}) or audio "
        f"clips ({', '.join(sorted(AUDIO_SUFFIXES))}). For a table, pass the CSV or "
        "Parquet file itself."
    )


def load_dataset(
    data: str | Path,
    label: str | None = None,
    unlabelled: str | Path | None = None,
    text_column: str | None = None,
) -> Dataset:
    path = Path(data)
    if not path.exists():
        raise DataError(
            f"{path} does not exist. Pass a CSV/Parquet file or a folder with one "
            "sub-folder per class to --data."
        )
    if path.is_dir():
        modality = folder_modality(path)
        if modality is Modality.IMAGE:
            from automl.data.images import load_image_folder

            ds = load_image_folder(path, unlabelled=Path(unlabelled) if unlabelled else None)
        else:
            from automl.data.audio import load_audio_folder

            ds = load_audio_folder(path, unlabelled=Path(unlabelled) if unlabelled else None)
    else:
        ds = _load_table(path, label, unlabelled, text_column)
    check_labels(ds)
    return ds


def _load_table(
    path: Path, label: str | None, unlabelled: str | Path | None, text_column: str | None
) -> Dataset:
    df = read_table(path)
    label_col = detect_label(df, label, str(path))
    labelled, pool = split_labelled(df, label_col)
    if unlabelled:
        extra = read_table(Path(unlabelled))
        extra = extra.drop(columns=[label_col], errors="ignore")
        pool = pd.concat([pool, extra], ignore_index=True)
    X = labelled.drop(columns=[label_col])
    y = labelled[label_col].to_numpy()
    if X.shape[1] == 0:
        raise DataError(
            f"{path} has only the label column {label_col!r}; there is nothing to learn "
            "from. Add feature or text columns."
        )
    from automl.data.text import text_columns

    texts = text_columns(X, text_column, str(path))
    if texts:
        from automl.data.text import make_text_dataset

        return make_text_dataset(X, y, texts, str(path), pool if len(pool) else None)
    pool_X = pool[X.columns] if len(pool) and set(X.columns) <= set(pool.columns) else None
    if len(pool) and pool_X is None:
        log.warning("Unlabelled rows lack some feature columns; they are ignored.")
    return Dataset(
        Modality.TABULAR,
        X.reset_index(drop=True),
        y,
        str(path),
        unlabelled=pool_X,
        schema={"columns": list(X.columns)},
    )


def load_inputs(data: str | Path, modality: str, schema: dict):
    """Predict-time X in exactly the form the model saw in training (``Dataset.X``)."""
    path = Path(data)
    if not path.exists():
        raise DataError(f"{path} does not exist. Pass the file or folder to predict on to --data.")
    if modality == Modality.IMAGE.value:
        from automl.data.images import load_image_inputs

        return load_image_inputs(path)
    if modality == Modality.AUDIO.value:
        from automl.data.audio import load_audio_inputs

        return load_audio_inputs(path)
    if path.is_dir():
        raise DataError(
            f"{path} is a folder, but this model was trained on a {modality} table. Pass a CSV/Parquet file."
        )
    df = read_table(path)
    if modality == Modality.TEXT.value:
        from automl.data.text import load_text_inputs

        return load_text_inputs(df, schema, str(path))
    from automl.data.table import check_columns

    return check_columns(schema["columns"], df, str(path))


def check_labels(ds: Dataset) -> None:
    labels, counts = np.unique(np.asarray(ds.y).astype(str), return_counts=True)
    if len(labels) < 2:
        raise DataError(
            f"{ds.source}: every labelled example has the class {labels[0]!r}. A "
            "classifier needs at least two classes; add examples of the others."
        )
    singles = [str(lab) for lab, c in zip(labels, counts) if c < 2]
    if singles:
        raise DataError(
            f"{ds.source}: class(es) {singles} have a single labelled example, which "
            "cannot be both trained on and validated. Add at least one more example "
            "per class, or remove those rows."
        )
