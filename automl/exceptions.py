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


def show_values(values, limit: int = 5) -> str:
    """``'a', 'b', 3 ... (12 in all)``: values as a user typed them, never numpy reprs
    (``np.str_('a')``) that would leak from ``repr`` of array items."""
    items = list(values)
    plain = [v.item() if hasattr(v, "item") and callable(v.item) else v for v in items[:limit]]
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in plain)
    return shown + (f" ... ({len(items)} in all)" if len(items) > limit else "")


def first_line(error: BaseException | str, limit: int = 300) -> str:
    """The first line of an error's text, at most ``limit`` characters: what a one-line
    message can quote of a library's multi-line error. An error with no text (``OSError()``)
    gives its type's name rather than nothing."""
    text = error if isinstance(error, str) else str(error)
    lines = [line for line in text.splitlines() if line.strip()]
    if lines:
        return lines[0].strip()[:limit]
    return "" if isinstance(error, str) else type(error).__name__


def describe(error: BaseException, limit: int = 300) -> str:
    """``"TypeName: first line"``, or the type's name alone when the error has no text."""
    name = type(error).__name__
    text = first_line(error, limit)
    return name if text == name else f"{name}: {text}"
