"""Load a model bundle, validate new input against it and predict."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.components.features.cached import shared_views
from automl.components.runtime import Runtime, bind_runtime, pick_device
from automl.data.load import load_inputs
from automl.exceptions import ModelError
from automl.export.bundle import Bundle, load_bundle
from automl.export.locate import locate_model
from automl.logger import log
from automl.pipeline.proba import aligned_proba

# Image and audio models take file paths; a frame gives them in this column.
PATH_COLUMN = "path"


class Predictor:
    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle

    @classmethod
    def load(
        cls,
        model: str | Path,
        device: str | None = None,
        cache_dir: str | None = None,
        tracking_uri: str | None = None,
    ) -> Predictor:
        """``model``: a model folder, a search's study or output folder, or an MLflow model URI
        (``runs:/<run>/model``, ``models:/<name>/<version>``; ``tracking_uri`` says where).
        ``device``: where torch models run (default: cuda when available, else cpu).
        ``cache_dir``: cache embeddings there (default: none is written)."""
        bundle = load_bundle(locate_model(model, tracking_uri))
        # Unpickling imported torch if the model has torch parts; otherwise none are needed.
        runtime = Runtime(
            device=pick_device(device, needs_torch=False), n_jobs=os.cpu_count() or 1, cache_dir=cache_dir
        )
        bind_runtime(bundle.pipeline, runtime)
        return cls(bundle)

    @property
    def classes(self) -> np.ndarray:
        return self.bundle.classes

    @property
    def modality(self) -> str:
        return self.bundle.meta["modality"]

    @property
    def schema(self) -> dict:
        return self.bundle.meta["schema"]

    def read_inputs(self, data: str | Path, flag: str = "--data") -> Any:
        """Read a file/folder into the X form the model was trained on, checking its schema;
        ``flag`` is the option that named it, for the messages."""
        return self._check(load_inputs(data, self.modality, self.schema, flag), str(data))

    def inputs_from_frame(self, frame: pd.DataFrame) -> Any:
        """The model's X from a DataFrame, by column name: the training columns of a table,
        the training text columns (joined exactly as in training), or a ``path`` column."""
        if self.modality == "tabular":
            from automl.data.columns import encode_dates

            # Date columns become the numbers the model was trained on, as when reading a file.
            return self._check(encode_dates(frame.copy(), self.schema.get("dates", [])), "the input frame")
        if self.modality == "text":
            from automl.data.text import load_text_inputs

            return load_text_inputs(frame, self.schema, "the input frame")
        if PATH_COLUMN not in frame.columns:
            raise ModelError(
                f"This {self.modality} model reads files: the input frame needs a {PATH_COLUMN!r} column "
                f"of file paths, but its columns are {[str(c) for c in frame.columns]}."
            )
        paths = frame[PATH_COLUMN].astype(str).to_numpy(dtype=object)
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise ModelError(
                f"{len(missing)} path(s) in the {PATH_COLUMN!r} column are not files, "
                f"e.g. {missing[0]!r}. Give paths to {self.modality} files that exist here."
            )
        return np.asarray([os.path.abspath(p) for p in paths], dtype=object)

    def predict_proba(self, X: Any) -> np.ndarray:
        if len(X) == 0:
            raise ModelError("There is nothing to predict: the input has no rows or files.")
        if isinstance(X, pd.DataFrame):
            X = self.inputs_from_frame(X)
        elif isinstance(X, (list, tuple, pd.Series)):
            X = np.asarray(X, dtype=object)
        with shared_views():
            return aligned_proba(self.bundle.pipeline, X, len(self.classes))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes[self.predict_proba(X).argmax(1)]

    def predict_frame(self, X: Any) -> pd.DataFrame:
        """A ``prediction`` column and one ``proba_<class>`` column per class."""
        proba = self.predict_proba(X)
        out = pd.DataFrame({"prediction": self.classes[proba.argmax(1)]})
        for j, c in enumerate(self.classes):
            out[f"proba_{c}"] = proba[:, j]
        return out

    def predict_file(self, data: str | Path, out: str | Path) -> pd.DataFrame:
        X = self.read_inputs(data)
        frame = self.predict_frame(X)
        if self.modality in ("image", "audio"):
            frame.insert(0, PATH_COLUMN, np.asarray(X, dtype=object))
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False)
        log.info("Wrote %d predictions to %s", len(frame), out)
        return frame

    def _check(self, X: Any, source: str) -> Any:
        """A table's training columns, numbers where the model saw numbers; values outside
        the categories seen in training get a warning (they count as unknown)."""
        if self.modality != "tabular":
            return X
        from automl.data.table import check_columns

        X = check_columns(self.schema["columns"], X, source).copy()
        profile = self.bundle.meta.get("profile", {})
        for col in profile.get("numeric_columns", []):
            if col not in X.columns or pd.api.types.is_numeric_dtype(X[col]):
                continue
            values = pd.to_numeric(X[col], errors="coerce")
            bad = values.isna() & X[col].notna() & (X[col].astype(str).str.strip() != "")
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise ModelError(
                    f"{source}: column {col!r} must hold numbers (the model was trained on numbers), "
                    f"but row {row + 1} holds {str(X[col].iloc[row])!r}. Fix the value or leave the cell empty."
                )
            X[col] = values
        numbers = X.select_dtypes("number")
        infinite = [c for c in numbers.columns if np.isinf(numbers[c].to_numpy(dtype=float)).any()]
        if infinite:
            log.warning(
                "%s: column(s) %s hold infinite values; they are treated as missing.", source, infinite
            )
            X[infinite] = X[infinite].replace([np.inf, -np.inf], np.nan)
        for col, seen in (self.bundle.meta.get("categories") or {}).items():
            if col in X.columns:
                new = sorted({str(v) for v in X[col].dropna().unique()} - set(seen))
                if new:
                    log.warning(
                        "%s: column %r has value(s) the model never saw in training (%s); they "
                        "are treated as unknown.",
                        source,
                        col,
                        ", ".join(new[:5]),
                    )
        return X


def load_predictor(model: str | Path, device: str | None = None) -> Predictor:
    return Predictor.load(model, device=device)
