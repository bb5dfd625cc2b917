"""Load a model bundle, validate new input against it and predict."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.components.runtime import Runtime, bind_runtime, pick_device
from automl.data.load import load_inputs
from automl.exceptions import ModelError
from automl.export.bundle import Bundle, load_bundle
from automl.logger import log
from automl.pipeline.proba import aligned_proba


class Predictor:
    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle

    @classmethod
    def load(
        cls, directory: str | Path, device: str | None = None, cache_dir: str | None = None
    ) -> Predictor:
        """``device``: where torch models run (default: cuda when available, else cpu).
        ``cache_dir``: cache embeddings there (default: none is written)."""
        bundle = load_bundle(directory)
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

    def read_inputs(self, data: str | Path) -> Any:
        """Read a file/folder into the X form the model was trained on, checking its schema."""
        return load_inputs(data, self.modality, self.bundle.meta["schema"])

    def predict_proba(self, X: Any) -> np.ndarray:
        if len(X) == 0:
            raise ModelError("There is nothing to predict: the input has no rows or files.")
        return aligned_proba(self.bundle.pipeline, X, len(self.classes))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes[self.predict_proba(X).argmax(1)]

    def predict_frame(self, X: Any) -> pd.DataFrame:
        """A ``prediction`` column and one ``proba_<class>`` column per class."""
        if isinstance(X, pd.DataFrame) and self.modality == "tabular":
            X = X[self.bundle.meta["schema"]["columns"]]
        elif isinstance(X, pd.DataFrame):  # text / paths in the first column
            X = X.iloc[:, 0].to_numpy(dtype=object)
        elif isinstance(X, (list, tuple, pd.Series)):
            X = np.asarray(X, dtype=object)
        proba = self.predict_proba(X)
        out = pd.DataFrame({"prediction": self.classes[proba.argmax(1)]})
        for j, c in enumerate(self.classes):
            out[f"proba_{c}"] = proba[:, j]
        return out

    def predict_file(self, data: str | Path, out: str | Path) -> pd.DataFrame:
        X = self.read_inputs(data)
        frame = self.predict_frame(X)
        if self.modality in ("image", "audio"):
            frame.insert(0, "path", np.asarray(X, dtype=object))
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False)
        log.info("Wrote %d predictions to %s", len(frame), out)
        return frame


def load_predictor(directory: str | Path) -> Predictor:
    return Predictor.load(directory)
