"""The bundle as an MLflow pyfunc model, so ``mlflow.pyfunc.load_model`` serves it too."""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

import mlflow.pyfunc
from mlflow.pyfunc import PythonModel

# MLflow asks for a predict type hint to validate input; the Predictor validates DataFrames,
# texts and paths itself, so the notice MLflow raises at class creation is recorded and dropped.
with warnings.catch_warnings(record=True):
    warnings.simplefilter("always")

    class AutomlPyfunc(PythonModel):
        """Wraps ``automl.predict.Predictor``: input a DataFrame (tabular), texts or paths."""

        def load_context(self, context) -> None:
            from automl.predict import Predictor

            self.predictor = Predictor.load(context.artifacts["bundle"])

        def predict(self, context, model_input, params=None):
            return self.predictor.predict_frame(model_input)


def save_mlflow_model(bundle_dir: Path, into: Path) -> Path:
    """Write an MLflow model folder that embeds the bundle; returns its path."""
    from automl import __version__

    path = Path(tempfile.mkdtemp(dir=into)) / "mlflow_model"
    # Explicit requirements: inferring them would import-scan the environment (slow, noisy).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with warnings.catch_warnings(record=True):
        # The wrapper holds no state (it loads the bundle), so pickling it is safe, and its
        # input is DataFrames, texts or paths: no type hints to infer a signature from.
        warnings.simplefilter("always")
        quiet = logging.getLogger("mlflow.pyfunc")
        level, quiet.level = quiet.level, logging.ERROR
        try:
            mlflow.pyfunc.save_model(
                path=str(path),
                python_model=AutomlPyfunc(),
                artifacts={"bundle": str(bundle_dir)},
                pip_requirements=[f"automl=={__version__}"],
            )
        finally:
            quiet.setLevel(level)
    return path
