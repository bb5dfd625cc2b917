"""Importing this module registers every built-in component. Modules whose optional
dependencies are missing still register; their ``available()`` says what to install."""
from automl.components.features import tabular  # noqa: F401
from automl.components.learners import classical  # noqa: F401
from automl.components.semi import pseudo_label  # noqa: F401
from automl.components.audio import cnn, features  # noqa: F401
from automl.components.images import embed, finetune  # noqa: F401
from automl.components.text import features as text_features, finetune as text_finetune  # noqa: F401
