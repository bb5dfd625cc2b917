"""What the benchmark scripts share: run the real CLI as a user would, and time a call."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def search_and_predict(
    train: Path, test: Path, budget: str, work: Path, *extra: str, log: Path | None = None
) -> pd.DataFrame:
    """`automl search` on ``train``, then `automl predict` with its model on ``test``.
    The run is left in ``work/runs``; with ``log``, the CLI's output goes there."""
    out = work / "runs"
    with open(log, "w") if log else contextlib.nullcontext() as sink:
        run = dict(check=True, stdout=sink, stderr=sink)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "automl",
                "search",
                "--data",
                str(train),
                "--budget",
                budget,
                "--output",
                str(out),
                *extra,
            ],
            **run,
        )
        model = next(out.glob("*/model"))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "automl",
                "predict",
                "--model",
                str(model),
                "--data",
                str(test),
                "--out",
                str(work / "pred.csv"),
                "-q",
            ],
            **run,
        )
    return pd.read_csv(work / "pred.csv")


def study_of(db: Path):
    """The one study in a search's SQLite storage (``<output>/optuna.db``)."""
    import optuna

    return optuna.load_study(study_name=None, storage=f"sqlite:///{db}")


def folder_labels(pred: pd.DataFrame) -> pd.Series:
    """True labels of predictions on a class-folder split: each file's parent folder."""
    return pred["path"].map(lambda p: Path(p).parent.name).astype(str)


def timed(fn, *args):
    t0 = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - t0


def setfit_package_fit_predict(encoder: str, seed: int, X, y, X_val) -> np.ndarray:
    """The `setfit` package's few-shot recipe (20 pair iterations, one epoch, batch 16): pairs
    drawn per row and a cosine-similarity loss, each pair's sentences embedded separately."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from automl.components.text.encoders import ENCODERS

    classes, y_id = np.unique(y, return_inverse=True)
    model = SetFitModel.from_pretrained(ENCODERS.get(encoder).resolve())
    args = TrainingArguments(
        batch_size=16,
        num_epochs=1,
        num_iterations=20,
        seed=seed,
        output_dir=tempfile.mkdtemp(),
        report_to="none",
    )
    train = Dataset.from_dict({"text": list(X), "label": [int(i) for i in y_id]})
    Trainer(model=model, args=args, train_dataset=train).train()
    return classes[np.asarray(model.predict(list(X_val))).astype(int)]
