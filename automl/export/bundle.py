"""The model bundle: the refitted pipeline plus everything needed to use it honestly.

Layout of ``<run>/model/``: ``pipeline.joblib`` (the fitted estimator) and ``bundle.json``
(spec, classes, modality, input schema, CV score, versions).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from automl.components.runtime import DEFAULT_RUNTIME, bind_runtime
from automl.exceptions import ModelError

# 2: runtime (device, cache, pool) no longer pickled; pipelines live in automl.pipeline.
FORMAT_VERSION = 2


@dataclass(frozen=True)
class Bundle:
    pipeline: Any
    meta: dict[str, Any]

    @property
    def classes(self) -> np.ndarray:
        return np.asarray(self.meta["classes"], dtype=object)


def save_bundle(directory: Path, pipeline: Any, meta: dict[str, Any]) -> Path:
    from automl import __version__

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Tensors go to disk on the CPU, so a model trained on a GPU loads on any machine; the
    # runtime (device, cache, pool) is never pickled.
    bind_runtime(pipeline, DEFAULT_RUNTIME)
    meta = {
        **meta,
        "format_version": FORMAT_VERSION,
        "automl_version": __version__,
        "python": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    # Write-then-rename: an interrupted export never leaves a half-written model behind.
    for name, writer in (
        ("pipeline.joblib", lambda f: joblib.dump(pipeline, f)),
        ("bundle.json", lambda f: f.write(json.dumps(meta, indent=2, default=str).encode())),
    ):
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            writer(f)
        os.replace(tmp, directory / name)
    return directory


def load_bundle(directory: str | Path) -> Bundle:
    directory = Path(directory)
    meta_path = directory / "bundle.json"
    if not meta_path.is_file():
        hint = ""
        if (directory / "model" / "bundle.json").is_file():
            hint = f" Did you mean {directory / 'model'}?"
        raise ModelError(
            f"{directory} is not an automl model folder (no bundle.json).{hint} "
            "Pass the `model` folder of a finished search to --model."
        )
    meta = json.loads(meta_path.read_text())
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(
            f"{directory} was saved by a newer automl ({meta.get('automl_version')}); "
            "upgrade automl to load it."
        )
    if meta.get("format_version", 0) < FORMAT_VERSION:
        raise ModelError(
            f"{directory} was saved by an older automl ({meta.get('automl_version')}, "
            f"format {meta.get('format_version', 0)}) whose models this one cannot "
            "load. Re-export it: re-run the same `automl search` command (it resumes "
            "the study and refits the best pipeline without new trials when "
            "--trials is reached)."
        )
    return Bundle(joblib.load(directory / "pipeline.joblib"), meta)
