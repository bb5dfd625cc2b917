"""Errors a user can act on. Each message names the value, the rule it broke and the fix."""


class AutoMLError(Exception):
    """Base class: the CLI prints these without a traceback."""


class DataError(AutoMLError):
    """The input data cannot be used as given (missing file, bad label column, ...)."""


class SearchSpaceError(AutoMLError):
    """A search-space YAML or component setting is invalid."""


class ConfigError(AutoMLError):
    """A user setting (budget, metric, storage URL, ...) is invalid."""


class ModelError(AutoMLError):
    """A saved model bundle cannot be loaded or does not fit the input."""


class LabelColumnUnknown(DataError):
    """No --label given and no column has a conventional label name."""

    def __init__(self, message: str, columns: list[str]) -> None:
        super().__init__(message)
        self.columns = columns
