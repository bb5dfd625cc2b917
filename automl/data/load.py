"""Load any supported input into a validated ``Dataset``: the one entry point for data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from automl.data.audio import AUDIO_SUFFIXES
from automl.data.columns import apply_plan, encode_dates, plan_columns
from automl.data.dataset import Dataset, Modality
from automl.data.folders import visible_files
from automl.data.images import IMAGE_SUFFIXES
from automl.data.labels import check_classes, check_label_column, warn_label_variants
from automl.data.table import TABLE_SUFFIXES, detect_label, read_table, split_labelled
from automl.exceptions import DataError
from automl.logger import log


def folder_modality(path: Path) -> Modality:
    """Images or audio, whichever the folder holds more of; the other kind is ignored."""
    files = visible_files(path)
    images = sum(f.suffix.lower() in IMAGE_SUFFIXES for f in files)
    clips = sum(f.suffix.lower() in AUDIO_SUFFIXES for f in files)
    if not images and not clips:
        raise DataError(
            f"Folder {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}) or audio "
            f"clips ({', '.join(sorted(AUDIO_SUFFIXES))}). For a table, pass the CSV or "
            "Parquet file itself."
        )
    modality = Modality.IMAGE if images >= clips else Modality.AUDIO
    if images and clips:
        ignored = f"{clips} audio clip(s)" if modality is Modality.IMAGE else f"{images} image(s)"
        log.warning(
            "%s holds both images (%d) and audio clips (%d): it is read as %s data and the %s "
            "are ignored. Keep one kind per folder.",
            path,
            images,
            clips,
            modality.value,
            ignored,
        )
    return modality


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
    pool = Path(unlabelled) if unlabelled else None
    if pool is not None and pool.exists() and pool.resolve() == path.resolve():
        raise DataError(
            f"--unlabelled {pool} is the --data itself: its items are labelled, and a pool of them "
            "would teach semi-supervised learners nothing new. Pass items without labels, or leave "
            "--unlabelled out (rows of --data with an empty label are used as unlabelled already)."
        )
    if path.is_dir():
        modality = folder_modality(path)
        if pool is not None:
            check_pool_path(pool, modality)
        if modality is Modality.IMAGE:
            from automl.data.images import load_image_folder

            ds = load_image_folder(path, unlabelled=pool)
        else:
            from automl.data.audio import load_audio_folder

            ds = load_audio_folder(path, unlabelled=pool)
    else:
        if pool is not None:
            check_pool_path(pool, Modality.TABULAR)
        ds = _load_table(path, label, pool, text_column)
    check_labels(ds)
    return ds


def check_pool_path(pool: Path, modality: Modality) -> None:
    """``--unlabelled`` exists and is of the kind ``--data`` is."""
    if not pool.exists():
        raise DataError(
            f"--unlabelled {pool} does not exist. Pass an existing file or folder of unlabelled "
            "data, or leave --unlabelled out."
        )
    if modality in (Modality.TABULAR, Modality.TEXT):
        if pool.is_dir() or pool.suffix.lower() not in TABLE_SUFFIXES:
            raise DataError(
                f"--unlabelled {pool} is not a table ({', '.join(sorted(TABLE_SUFFIXES))}), but "
                "--data is one: pass a table with the same feature columns and no labels."
            )
        return
    kind, suffixes = ("image", IMAGE_SUFFIXES) if modality is Modality.IMAGE else ("audio", AUDIO_SUFFIXES)
    if pool.suffix.lower() in TABLE_SUFFIXES or (pool.is_dir() and not visible_files(pool, suffixes)):
        raise DataError(
            f"--unlabelled {pool} holds no {kind} files ({', '.join(sorted(suffixes))}), but --data "
            f"is a folder of them: pass a folder of unlabelled {kind} files (or a .txt file listing "
            "their paths)."
        )


def _load_table(path: Path, label: str | None, unlabelled: Path | None, text_column: str | None) -> Dataset:
    source = str(path)
    df = read_table(path)
    label_col = detect_label(df, label, source)
    labelled, pool = split_labelled(df, label_col)
    check_label_column(labelled[label_col], label_col, source)
    extra = read_table(unlabelled, "--unlabelled") if unlabelled is not None else None
    if extra is not None and label_col in extra.columns and extra[label_col].notna().any():
        log.warning(
            "--unlabelled %s has a %r column with %d value(s): they are ignored (the pool is "
            "used without labels). Labelled rows belong in --data.",
            unlabelled,
            label_col,
            int(extra[label_col].notna().sum()),
        )
    X = labelled.drop(columns=[label_col])
    y = labelled[label_col].to_numpy()
    if X.shape[1] == 0:
        raise DataError(
            f"{path} has only the label column {label_col!r}; there is nothing to learn "
            "from. Add feature or text columns."
        )
    from automl.data.text import text_columns

    texts = text_columns(X, text_column, source)
    plan = plan_columns(df.drop(columns=[label_col]), source) if not texts else None
    if extra is not None and unlabelled is not None:
        needed = texts or [c for c in X.columns if plan is None or c not in plan.drop]
        pool = pd.concat([pool, _pool_columns(extra, needed, unlabelled, path)], ignore_index=True)
    if plan is None:
        from automl.data.text import make_text_dataset

        return make_text_dataset(X, y, texts, source, pool if len(pool) else None)
    X = apply_plan(X, plan, source)
    if X.shape[1] == 0:
        raise DataError(
            f"{path}: no feature column is left once {list(plan.drop)} are dropped (see the "
            "warnings above). Add feature or text columns."
        )
    return Dataset(
        Modality.TABULAR,
        X.reset_index(drop=True),
        y,
        source,
        unlabelled=apply_plan(pool, plan, f"{source} (unlabelled rows)")[X.columns] if len(pool) else None,
        notes=plan.notes,
        schema={"columns": list(X.columns), **plan.schema},
    )


def _pool_columns(pool: pd.DataFrame, columns: list[str], pool_path: Path, data: Path) -> pd.DataFrame:
    """The unlabelled table's columns that the model reads; all must be there: a pool with
    columns filled in by imputation would teach semi-supervised learners made-up values."""
    missing = [c for c in columns if c not in pool.columns]
    if missing:
        raise DataError(
            f"--unlabelled {pool_path} lacks column(s) {missing} of {data}. Unlabelled rows need "
            "every column the model reads: add them, or leave --unlabelled out."
        )
    return pool[list(columns)]


def load_inputs(data: str | Path, modality: str, schema: dict, flag: str = "--data"):
    """Predict-time X in exactly the form the model saw in training (``Dataset.X``); ``flag``
    is the option that named ``data``, for the messages."""
    path = Path(data)
    if not path.exists():
        raise DataError(f"{path} does not exist. Pass the file or folder of items to {flag}.")
    if modality == Modality.IMAGE.value:
        from automl.data.images import load_image_inputs

        return load_image_inputs(path)
    if modality == Modality.AUDIO.value:
        from automl.data.audio import load_audio_inputs

        return load_audio_inputs(path)
    if path.is_dir():
        raise DataError(
            f"{path} is a folder, but this model was trained on a table"
            f"{' of texts' if modality == Modality.TEXT.value else ''}. Pass a CSV/Parquet file."
        )
    df = read_table(path, flag)
    if modality == Modality.TEXT.value:
        from automl.data.text import load_text_inputs

        return load_text_inputs(df, schema, str(path))
    from automl.data.table import check_columns

    return check_columns(schema["columns"], encode_dates(df, schema.get("dates", [])), str(path))


def check_labels(ds: Dataset) -> None:
    check_classes(ds.y, ds.source)
    warn_label_variants(ds.y, ds.source)
