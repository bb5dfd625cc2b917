"""Builders, the in-process CLI runner and the case record of the robustness corpus.

Everything here writes small, deterministic inputs under pytest's tmp folders: tables (iris,
text reviews) and class folders of tiny PNGs and WAVs. conftest.py trains the session models.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SMOKE = REPO / "search_spaces" / "smoke.yaml"
SPACES = HERE / "spaces"
IMAGE_SPACE = SPACES / "image_tiny.yaml"
AUDIO_SPACE = SPACES / "audio_tiny.yaml"
TEXT_SPACE = SPACES / "text_tiny.yaml"

# --------------------------------------------------------------------------------------------
# Data builders
# --------------------------------------------------------------------------------------------

IRIS_FEATURES = ["sl", "sw", "pl", "pw"]


def iris_df() -> pd.DataFrame:
    """Iris with short column names and string classes in column ``species``."""
    from sklearn.datasets import load_iris

    data = load_iris()
    df = pd.DataFrame(data.data, columns=IRIS_FEATURES)
    df["species"] = np.asarray(data.target_names)[data.target]
    return df


def write_csv(df: pd.DataFrame, path: Path, **kw: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, **kw)
    return path


POS = [
    "a wonderful , moving film",
    "great acting and a lovely story",
    "i loved every minute of it",
    "a delight from start to finish",
    "funny , warm and smart all the way",
    "the best film this year by far",
    "superb cast , great fun for everyone",
    "beautiful and touching work of art",
]
NEG = [
    "a dull , boring mess",
    "i hated the plot and the ending",
    "the worst film this year by far",
    "tedious and far too long",
    "awful acting , weak script",
    "a boring and stupid film",
    "nothing works in this dull film",
    "painful to sit through it all",
]


def reviews_df() -> pd.DataFrame:
    """64 short reviews (column ``review``), 32 per ``sentiment``, plus a numeric column.
    (TF-IDF is only searched with ~30 texts per class.)"""
    openers = ["honestly", "all in all", "for me", "in short"]
    pos = [f"{o} , {t}" for o in openers for t in POS]
    neg = [f"{o} , {t}" for o in openers for t in NEG]
    return pd.DataFrame(
        {"review": pos + neg, "stars": list(range(64)), "sentiment": ["pos"] * 32 + ["neg"] * 32}
    )


COLOURS = {"red": (200, 40, 40), "blue": (40, 40, 200), "green": (40, 200, 40)}


def png(path: Path, size: int = 32, colour=(200, 40, 40), seed: int = 0, mode: str = "RGB") -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    arr = np.clip(np.array(colour) + rng.normal(0, 25, (size, size, 3)), 0, 255).astype("uint8")
    im = Image.fromarray(arr)
    if mode != "RGB":
        im = im.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


def image_folder(root: Path, classes: dict[str, int] | None = None, size: int = 32) -> Path:
    """``root/<class>/<i>.png``: 6 noisy solid-colour images per class by default."""
    classes = classes or {"red": 6, "blue": 6}
    for c, n in classes.items():
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            png(root / c / f"{c}{i}.png", size, COLOURS.get(c, (120, 120, 120)), seed=i + 100 * len(c))
    return root


def wav(
    path: Path,
    freq: float = 220.0,
    seconds: float = 1.0,
    sr: int = 8000,
    amp: float = 0.3,
    seed: int = 0,
    channels: int = 1,
) -> Path:
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    x = (amp * np.sin(2 * np.pi * freq * t) + amp * 0.03 * rng.normal(size=t.size)).astype("float32")
    if channels > 1:
        x = np.stack([x] * channels, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr)
    return path


def audio_folder(root: Path, classes: dict[str, int] | None = None) -> Path:
    """``root/<class>/<i>.wav``: 6 one-second tones per class (low 220 Hz, high 880 Hz)."""
    classes = classes or {"low": 6, "high": 6}
    freqs = {"low": 220.0, "high": 880.0}
    for c, n in classes.items():
        for i in range(n):
            wav(root / c / f"{c}{i}.wav", freqs.get(c, 440.0) + 7 * i, seed=i)
    return root


# --------------------------------------------------------------------------------------------
# Running the CLI in process
# --------------------------------------------------------------------------------------------

LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


class _Recorder(logging.Filter):
    """A filter on the ``automl`` logger: sees every record whatever handlers the CLI installs."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return True


@dataclass
class Outcome:
    code: int | None  # None when an exception escaped main()
    stdout: str
    stderr: str
    records: list[tuple[str, str]]  # (levelname, message) from the automl logger
    exception: BaseException | None = None
    where: str = ""

    def messages(self, *levels: str) -> list[str]:
        return [m for lv, m in self.records if lv in levels]

    def error_messages(self) -> list[str]:
        """What the user is told went wrong: the automl logger's errors, else argparse's line."""
        errs = self.messages("ERROR", "CRITICAL")
        if errs:
            return errs
        return [
            line
            for line in self.stderr.splitlines()
            if re.search(r"\berror\b", line, re.I) and not LOG_LINE.match(line)
        ]

    def warning_messages(self) -> list[str]:
        return self.messages("WARNING")

    def describe(self) -> str:
        lines = [f"exit {self.code}"]
        if self.exception is not None:
            lines.append(f"exception {type(self.exception).__name__} at {self.where}")
        tail = [line for line in self.stderr.splitlines() if line.strip()][-6:]
        lines += ["stderr tail:"] + ["  " + line[:300] for line in tail]
        return "\n".join(lines)


def raised_where(exc: BaseException) -> str:
    """``automl/x.py:function:line`` of the deepest automl frame (and the deepest frame overall)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"

    def short(f: traceback.FrameSummary) -> str:
        name = f.filename.replace("\\", "/")
        for marker in ("/automl/", "/site-packages/"):
            if marker in name:
                name = (marker.strip("/") + "/" if marker == "/automl/" else "") + name.split(marker, 1)[1]
                break
        return f"{name}:{f.name}:{f.lineno}"

    own = [
        f
        for f in frames
        if "/automl/" in f.filename.replace("\\", "/") and "/tests/" not in f.filename.replace("\\", "/")
    ]
    deepest = short(frames[-1])
    if own and own[-1] is not frames[-1]:
        return f"{short(own[-1])} (deepest: {deepest})"
    return deepest


def _point_stream_handlers_at_stderr() -> None:
    """Libraries (Optuna, MLflow) create their stderr handlers once per process; in a fresh
    process they write to the real stderr, so here they must write to this test's."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for lg in loggers:
        for h in lg.handlers:
            if type(h) is logging.StreamHandler and getattr(h.stream, "name", "") != "<stdout>":
                h.stream = sys.stderr  # not setStream(): it flushes the old, maybe closed, stream


def run_cli(argv: list[str], capsys, monkeypatch) -> Outcome:
    """``automl.cli.main(argv)`` in this process, as a user at a non-interactive shell runs it."""
    from automl.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    if argv and argv[0] == "ui":  # never start a real server from the corpus
        import subprocess

        def _no_server(*a, **k):
            raise AssertionError("automl ui tried to start the MLflow server")

        monkeypatch.setattr(subprocess, "call", _no_server)
    capsys.readouterr()
    _point_stream_handlers_at_stderr()
    logger = logging.getLogger("automl")
    rec = _Recorder()
    logger.addFilter(rec)
    code: int | None = None
    exc: BaseException | None = None
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except BaseException as e:
        exc = e
    finally:
        logger.removeFilter(rec)
    out, err = capsys.readouterr()
    records = [(r.levelname, r.getMessage()) for r in rec.records]
    return Outcome(code, out, err, records, exc, raised_where(exc) if exc else "")


# --------------------------------------------------------------------------------------------
# The case record
# --------------------------------------------------------------------------------------------


@dataclass
class Ctx:
    """What a builder gets: a fresh folder, and the session models on demand."""

    tmp: Path
    request: Any
    vars: dict[str, Any] = field(default_factory=dict)

    def fixture(self, name: str) -> Any:
        return self.request.getfixturevalue(name)


Words = tuple  # each item: a str, or a tuple of alternatives (any one must appear)


@dataclass
class Case:
    """One hostile input and what the user should get.

    ``expect``: ``error`` (exit ``code``, one message line with every word), ``warning`` (exit 0,
    one warning with every word), ``either`` (one of the two), ``ok`` (exit 0).
    ``argv`` items may hold ``{placeholders}`` filled from the builder's dict (plus ``tmp``,
    ``out``, ``smoke``); so may ``words``. ``check(vars, outcome)`` adds assertions (files that
    must or must not exist afterwards).
    """

    id: str
    build: Callable[[Ctx], dict]
    argv: list[str]
    expect: str = "error"
    words: Words = ()
    code: int = 2
    check: Callable[[dict, Outcome], None] | None = None
    why: str = ""
    marks: tuple = ()


# --------------------------------------------------------------------------------------------
# Judging an outcome against a case
# --------------------------------------------------------------------------------------------


def fill(text: str, values: dict[str, Any]) -> str:
    return text.format(**values) if "{" in text else text


PY_REPR = re.compile(r"\b(?:np|numpy)\.[A-Za-z_0-9]+\(")  # np.str_('x'), np.int64(3): reprs, not words


def scrub(message: str, values: dict[str, Any]) -> str:
    """The message without pytest's tmp folders (``.../test_case_id0/``, ``.../iris_model0/``),
    whose names would otherwise satisfy key words by accident."""
    base = values.get("_base")
    if not base:
        return message
    return re.sub(re.escape(str(base)) + r"/[^/\s'\"]+", "<tmp>", message)


def missing_words(message: str, words: Words, values: dict[str, Any]) -> list[str]:
    low = scrub(message, values).lower()
    missing = []
    for w in words:
        alts = [fill(a, values) for a in (w if isinstance(w, tuple) else (w,))]
        if not any(a.lower() in low for a in alts):
            missing.append(" | ".join(alts))
    return missing


def _short(msg: str, n: int = 260) -> str:
    msg = " ".join(msg.split())
    return msg if len(msg) <= n else msg[:n] + "..."


def judge(case: Case, values: dict[str, Any], o: Outcome) -> str | None:
    """None when the outcome is what the user should get, else a one-line verdict tagged
    [a] traceback, [b] silently accepted / wrong result, [c] unclear or wrong message."""
    if o.exception is not None:
        first = (str(o.exception).strip().splitlines() or [""])[0]
        return f"[a] traceback: {type(o.exception).__name__}: {_short(first, 160)} @ {o.where}"
    if "Traceback (most recent call last)" in o.stderr:
        last = [line for line in o.stderr.splitlines() if line.strip()][-1]
        return f"[a] a traceback was printed to stderr (exit {o.code}): {_short(last, 160)}"
    errors, warnings = o.error_messages(), o.warning_messages()
    expect = case.expect
    if expect == "either":
        expect = "error" if o.code != 0 else "warning"
    if expect == "error":
        if o.code == 0:
            seen = f"; warnings: {[_short(w, 120) for w in warnings[:2]]}" if warnings else ""
            if case.check is not None:
                try:
                    case.check(values, o)
                except AssertionError as e:
                    seen += f"; and {str(e).split(chr(10))[0]}"
            return f"[b] exit 0, expected exit {case.code} naming {list(case.words)}{seen}"
        if o.code != case.code:
            return (
                f"[c] exit {o.code}, expected {case.code}: {_short(errors[-1]) if errors else 'no message'}"
            )
        if not errors:
            return f"[c] exit {o.code} without any error message"
        msg = errors[-1]
        if len(errors) > 1:
            return f"[c] {len(errors)} error messages instead of one: {[_short(e, 100) for e in errors]}"
        if len(msg.strip().splitlines()) > 1:
            return f"[c] the message spans {len(msg.strip().splitlines())} lines: {_short(msg)}"
        miss = missing_words(msg, case.words, values)
        if miss:
            return f"[c] message lacks {miss}: {_short(scrub(msg, values))!r}"
        if PY_REPR.search(msg):
            return f"[c] the message shows Python reprs ({PY_REPR.search(msg).group(0)}...): {_short(scrub(msg, values))!r}"
    elif expect == "warning":
        if o.code != 0:
            return (
                f"[c] refused (exit {o.code}) where success with a warning is expected: "
                f"{_short(errors[-1]) if errors else 'no message'}"
            )
        good = [w for w in warnings if not missing_words(w, case.words, values)]
        if good and all(PY_REPR.search(w) for w in good):
            return f"[c] the warning shows Python reprs: {_short(scrub(good[0], values))!r}"
        if not good:
            if warnings:
                return (
                    f"[c] exit 0 but no warning names {list(case.words)}; warnings: "
                    f"{[_short(scrub(w, values), 140) for w in warnings[:3]]}"
                )
            return f"[b] exit 0 with no warning; expected one naming {list(case.words)}"
    elif expect == "ok":
        if o.code != 0:
            return f"[c] refused (exit {o.code}) where success is expected: {_short(errors[-1]) if errors else 'no message'}"
    else:
        raise ValueError(f"unknown expectation {case.expect!r}")
    if case.check is not None:
        try:
            case.check(values, o)
        except AssertionError as e:
            text = str(e).split("\nassert")[0]
            return text if text.startswith("[") else f"[b] {text}"
    return None
