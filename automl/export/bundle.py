"""The model bundle: the refitted pipeline plus everything needed to use it honestly.

Layout of ``<run>/model/``: ``pipeline.joblib`` (the fitted estimator) and ``bundle.json``
(spec, classes, modality, input schema, the CV estimate of what ships, data fingerprint,
library versions). The folder stands alone: SSL-adapted weights are inside the pipeline, no
path points outside it, no unlabelled data is in it, and every tensor is on the CPU.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from automl.components.runtime import DEFAULT_RUNTIME, bind_runtime
from automl.exceptions import ModelError
from automl.logger import log

# 2: runtime (device, cache, pool) no longer pickled; pipelines live in automl.pipeline.
FORMAT_VERSION = 2
# The libraries whose versions decide whether a pickled pipeline loads and predicts the same.
LIBRARIES = ("numpy", "pandas", "scikit-learn", "xgboost", "torch", "torchvision", "timm", "transformers")


@dataclass(frozen=True)
class Bundle:
    pipeline: Any
    meta: dict[str, Any]
    directory: Path

    @property
    def classes(self) -> np.ndarray:
        return np.asarray(self.meta["classes"], dtype=object)

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a pickled pipeline depends on (no imports)."""
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def save_bundle(directory: Path, pipeline: Any, meta: dict[str, Any]) -> Path:
    from automl import __version__

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    # Tensors go to disk on the CPU, so a model trained on a GPU loads on any machine; the
    # runtime (device, cache, pool) is never pickled.
    bind_runtime(pipeline, DEFAULT_RUNTIME)
    meta = {
        **meta,
        "format_version": FORMAT_VERSION,
        "automl_version": __version__,
        "python": platform.python_version(),
        "versions": library_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    # The whole folder is written beside the old one and swapped in: an interrupted export
    # leaves the previous model as it was, never a pipeline from one export with the
    # bundle.json of another.
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}-new-"))
    try:
        joblib.dump(pipeline, staging / "pipeline.joblib")
        (staging / "bundle.json").write_text(json.dumps(meta, indent=2, default=str))
        old = None
        if directory.exists():
            old = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}-old-"))
            os.replace(directory, old / directory.name)
        os.replace(staging, directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def load_bundle(directory: str | Path) -> Bundle:
    directory = Path(directory)
    meta_path = directory / "bundle.json"
    if not meta_path.is_file():
        raise ModelError(
            f"{directory} is not an automl model folder (no bundle.json). Pass the model folder, "
            "the search's study or output folder, or an MLflow model URI to --model."
        )
    try:
        meta = json.loads(meta_path.read_text())
    except (ValueError, OSError) as e:
        raise ModelError(
            f"{meta_path} is not readable JSON ({e}); the model folder is damaged. Re-export it by "
            "re-running the search command (it resumes the study and refits without new trials)."
        ) from None
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
    warn_version_drift(meta.get("versions", {}), directory)
    try:
        pipeline = joblib.load(directory / "pipeline.joblib")
    except (ModuleNotFoundError, ImportError) as e:
        raise ModelError(
            f"{directory} needs {e.name or e} to load, which is not installed here: install the "
            f"extra the model was trained with (pip install 'automl[image]', '[text]' or '[audio]')."
        ) from None
    except Exception as e:
        raise ModelError(
            f"{directory / 'pipeline.joblib'} cannot be loaded ({type(e).__name__}: {e}); the file is "
            "damaged or was written by other library versions. Re-export the model by re-running "
            "the search command."
        ) from None
    return Bundle(pipeline, meta, directory)


def warn_version_drift(saved: dict[str, str], directory: Path) -> None:
    installed = library_versions()
    drift = [
        f"{name} {v} (here {installed.get(name, 'not installed')})"
        for name, v in saved.items()
        if installed.get(name) != v
    ]
    if drift:
        pins = " ".join(f"{name}=={v}" for name, v in saved.items() if installed.get(name) != v)
        log.warning(
            "%s was saved with %s: predictions may differ from the search's. To match: pip install %s",
            directory,
            "; ".join(drift),
            pins,
        )
