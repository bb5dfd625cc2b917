"""Audio folders (one sub-folder per class)."""
from __future__ import annotations

from pathlib import Path

from automl.data.dataset import Dataset
from automl.exceptions import DataError


def load_audio_folder(path: Path, unlabelled: Path | None = None) -> Dataset:
    raise DataError(f"{path} holds audio clips, and audio classification is not supported by "
                    "this version of automl yet. Extract features into a CSV table and pass that.")
