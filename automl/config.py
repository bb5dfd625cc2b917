"""User settings: the one place budgets, metrics and search settings are parsed and checked."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from automl.exceptions import ConfigError

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DURATION_FORMS = "90s, 15m, 2h, 1h30m (or a plain number of seconds)"


# Past this the search's timers (SIGALRM intervals, timestamps) overflow on some platforms.
MAX_BUDGET_SECONDS = 366 * 24 * 3600


@dataclass(frozen=True)
class Budget:
    """A wall-clock budget in seconds. ``Budget.parse("1h30m").seconds == 5400``."""

    seconds: float

    @classmethod
    def parse(cls, text: str | float | int) -> Budget:
        if isinstance(text, (int, float)):
            seconds = float(text)
        else:
            raw = str(text).strip().lower().replace(" ", "")
            if re.fullmatch(r"\d+(\.\d+)?", raw):
                seconds = float(raw)
            else:
                m = _DURATION.match(raw)
                if not raw or not m or not any(m.groups()):
                    raise ConfigError(f"Cannot read the duration {text!r}. Accepted forms: {DURATION_FORMS}.")
                h, mi, s = (int(g) if g else 0 for g in m.groups())
                seconds = float(h * 3600 + mi * 60 + s)
        if seconds <= 0:
            raise ConfigError(f"A budget must be positive, but got {text!r}. Use e.g. {DURATION_FORMS}.")
        if seconds > MAX_BUDGET_SECONDS:
            raise ConfigError(
                f"A budget of {text!r} is more than a year; give at most {MAX_BUDGET_SECONDS // 3600}h "
                "and end the search earlier with --trials or Ctrl-C (finished trials are kept)."
            )
        return cls(seconds)

    def __str__(self) -> str:
        return format_duration(self.seconds)


def format_duration(seconds: float) -> str:
    """``5400 -> "1h30m"``, ``95 -> "1m35s"``: the form ``Budget.parse`` reads back."""
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (sec, "s")) if v) or "0s"


@dataclass(frozen=True)
class SearchConfig:
    """Everything a search needs, checked once. The CLI and the Python API both build this."""

    data: Path
    budget: Budget
    label: str | None = None
    unlabelled: Path | None = None
    text_column: str | None = None
    trials: int | None = None
    output: Path = Path("automl-runs")
    metric: str | None = None  # None: chosen from the data profile
    cv: int = 5
    space: Path | None = None  # None: the preset for the data's modality
    seed: int = 0
    storage: str | None = None  # None: sqlite in the output folder
    tracking_uri: str | None = None  # None: sqlite in the output folder
    study: str | None = None  # None: derived from the data path
    n_jobs: int | None = None  # threads for one trial; None: all cores
    heartbeat: float = 20.0  # seconds between worker heartbeats; a silent worker's trial fails after 3x
    register: str | None = None  # MLflow Model Registry name: the shipped model becomes a new version

    def __post_init__(self) -> None:
        check_local_path(self.data, "--data")
        object.__setattr__(self, "data", Path(self.data))  # the API may pass a str
        if self.unlabelled is not None:
            check_local_path(self.unlabelled, "--unlabelled")
            object.__setattr__(self, "unlabelled", Path(self.unlabelled))
        check_output_folder(Path(self.output))
        if self.study is not None:
            check_study_name(self.study)
        if self.tracking_uri is not None:
            check_tracking_uri(self.tracking_uri)
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"--seed must be between 0 and {MAX_SEED}, but got {self.seed}.")
        if self.n_jobs is not None:
            check_jobs(self.n_jobs)
        if self.trials is not None and self.trials < 1:
            raise ConfigError(f"--trials must be at least 1, but got {self.trials}.")
        if not 1 <= self.heartbeat <= 3600:
            raise ConfigError(f"--heartbeat must be between 1 and 3600 seconds, but got {self.heartbeat}.")
        if not 2 <= self.cv <= 20:
            raise ConfigError(f"--cv must be between 2 and 20 folds, but got {self.cv}.")

    @property
    def study_name(self) -> str:
        return self.study or default_study_name(self.data)

    @property
    def run_dir(self) -> Path:
        return self.output / self.study_name

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.output / 'optuna.db').resolve()}"

    @property
    def tracking(self) -> str:
        return self.tracking_uri or f"sqlite:///{(self.output / 'mlflow.db').resolve()}"


_GENERIC_STEMS = {"train", "data", "labelled", "labeled", "dataset", "images", "clips", "input"}


def default_study_name(data: Path) -> str:
    """``iris.csv`` -> ``iris``; ``cifar10-few/train`` -> ``cifar10-few-train``."""
    path = Path(data).resolve()
    stem = path.stem if path.is_file() or path.suffix else path.name
    if stem.lower() in _GENERIC_STEMS and path.parent.name:
        stem = f"{path.parent.name}-{stem}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "search"


def redact_url(url: str | None) -> str | None:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``: URLs are
    logged and stored in MLflow, credentials never are."""
    if not url:
        return url
    return re.sub(r"(?<=://)([^:/@]+):([^@]+)@", r"\1:***@", url)


# numpy's legacy seeding (Optuna's samplers) takes 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1
# MLflow's tracking store schemes (a database scheme may name its driver: mysql+pymysql).
TRACKING_SCHEMES = (
    "file",
    "http",
    "https",
    "sqlite",
    "postgresql",
    "mysql",
    "mssql",
    "databricks",
    "databricks-uc",
    "uc",
)
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")  # "https:/x" too: Path() folds "//" into "/"


def check_local_path(value: str | Path, flag: str) -> None:
    """``--data``/``--unlabelled`` name local files: a URL is refused with the fix."""
    text = str(value)
    if _URL.match(text):
        raise ConfigError(
            f"{flag} {text} is a URL; automl reads local files and folders only. Download it "
            f"first (e.g. `curl -LO {text}`) and pass the local path to {flag}."
        )


def check_output_folder(path: Path, flag: str = "--output") -> None:
    """A folder that exists or can be created, and can be written to."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path} is a file, not a folder. Pass a folder (it is created if missing).")
    _check_creatable(path, flag)


def check_out_file(out: Path, data: Path | None = None, flag: str = "--out") -> None:
    """A file to write (missing folders are created): not a folder, not the input file."""
    if out.is_dir():
        raise ConfigError(
            f"{flag} {out} is a folder, but {flag} names the CSV file to write, e.g. {out / 'predictions.csv'}."
        )
    if data is not None and out.resolve() == Path(data).resolve():
        raise ConfigError(
            f"{flag} {out} is the same file as --data: the predictions would overwrite the input. "
            f"Pass another file to {flag}."
        )
    _check_creatable(out.parent, flag, shown=out)


def _check_creatable(path: Path, flag: str, shown: Path | None = None) -> None:
    """``path`` exists as a folder, or its nearest existing ancestor is a writable folder."""
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(
            f"{flag} {shown or path} is under {existing}, which is a file, not a folder. "
            "Pass a path in a folder."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{flag} {shown or path}: the folder {existing} is not writable. Pass a folder you "
            "can write to, or fix its permissions."
        )


def check_study_name(name: str) -> None:
    """Study names become folder names under --output, so they must stay one folder deep."""
    if not name.strip() or name in (".", "..") or any(s in name for s in ("/", "\\", "\0")):
        raise ConfigError(
            f"--study {name!r} cannot be used: the study name becomes a folder inside --output, so "
            "it must be non-empty and hold no path separator ('/', '\\') and not be '.' or '..'. "
            "Use letters, digits, '-', '_' or '.', e.g. --study iris-2."
        )


def check_tracking_uri(uri: str) -> None:
    """An MLflow tracking URI of a scheme MLflow stores runs in (a plain path is a file store)."""
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", uri)
    if m and m.group(1).split("+")[0].lower() not in TRACKING_SCHEMES:
        raise ConfigError(
            f"--tracking-uri {uri} has the unsupported scheme {m.group(1)!r}. Use an MLflow "
            "server (http://host:5000), a database (sqlite:///path/mlflow.db, "
            "postgresql://user@host/db) or leave it out for the store in --output."
        )


def check_jobs(n_jobs: int) -> None:
    if n_jobs < 1:
        raise ConfigError(f"--jobs must be at least 1 (threads per trial), but got {n_jobs}.")
