"""automl: AutoML search for small labelled datasets."""
__version__ = "0.1.0"

from automl.config import Budget, SearchConfig  # noqa: E402
from automl.predict import Predictor, load_predictor  # noqa: E402
from automl.search.orchestrator import SearchResult, search  # noqa: E402

__all__ = ["Budget", "SearchConfig", "SearchResult", "search", "load_predictor", "Predictor",
           "__version__"]
