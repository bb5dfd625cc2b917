"""What the command line shows: the automl logger's lines, not libraries' Python warnings."""

import subprocess
import sys

import pytest

# Run as the CLI runs (a fresh interpreter, Python's own warning display), not under pytest,
# which records warnings itself and would hide them either way.
SCRIPT = """
import logging, sys, warnings
from sklearn.exceptions import ConvergenceWarning
from automl.cli import _setup_logging
if sys.argv[2] == "routed":
    _setup_logging(verbose=sys.argv[1] == "-v", quiet=False)
warnings.warn("lbfgs failed to converge after 1000 iteration(s)", ConvergenceWarning)
logging.getLogger("automl").warning("the automl logger still speaks")
"""


@pytest.mark.parametrize(
    "flag, routing, shown", [("", "routed", False), ("-v", "routed", True), ("", "plain", True)]
)
def test_library_warnings_reach_the_user_only_with_verbose(flag, routing, shown):
    """The last case, Python's default display, is the variant the routing must differ from."""
    err = subprocess.run(
        [sys.executable, "-c", SCRIPT, flag, routing], capture_output=True, text=True, check=True
    ).stderr
    assert ("lbfgs failed to converge" in err) == shown
    assert routing == "plain" or "the automl logger still speaks" in err


@pytest.mark.parametrize(
    "error, limit, expected",
    [
        (OSError(), 300, "OSError"),  # no text: the type, not an IndexError
        (ValueError("\n  bad value\nnative stack frame 1\n"), 300, "bad value"),
        (RuntimeError("x" * 500), 40, "x" * 40),
        ("", 300, ""),
        ("plain text\nmore", 300, "plain text"),
    ],
)
def test_first_line_quotes_one_line_of_any_error(error, limit, expected):
    from automl.exceptions import first_line

    assert first_line(error, limit) == expected


@pytest.mark.parametrize(
    "error, expected",
    [
        (OSError(), "OSError"),
        (ValueError("bad\nframes"), "ValueError: bad"),
        (KeyError("k"), "KeyError: 'k'"),
    ],
)
def test_describe_names_the_type_once(error, expected):
    from automl.exceptions import describe

    assert describe(error) == expected
