"""User settings: the one place budgets, metrics and search settings are parsed and checked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from automl.exceptions import ConfigError

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DURATION_FORMS = "90s, 15m, 2h, 1h30m (or a plain number of seconds)"


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

    def __post_init__(self) -> None:
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
