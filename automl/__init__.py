"""automl: AutoML search for small labelled datasets.

The public names are imported on first use (PEP 562), so ``import automl`` is cheap and
serving a saved model (``automl.load_predictor``) never imports the search stack (Optuna,
MLflow, the orchestrator).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "Budget": "automl.config",
    "SearchConfig": "automl.config",
    "Predictor": "automl.predict",
    "load_predictor": "automl.predict",
    "SearchResult": "automl.search.orchestrator",
    "search": "automl.search.orchestrator",
}

__all__ = [*_PUBLIC, "__version__"]

if TYPE_CHECKING:
    from automl.config import Budget as Budget
    from automl.config import SearchConfig as SearchConfig
    from automl.predict import Predictor as Predictor
    from automl.predict import load_predictor as load_predictor
    from automl.search.orchestrator import SearchResult as SearchResult
    from automl.search.orchestrator import search as search


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'automl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
