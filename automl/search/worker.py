"""`automl worker`: join a study that `automl search` created and run its trials.

Everything that defines the problem is read from the study (data path and fingerprint, fold
plan, metric, search space, settings), so every worker evaluates the same problem the same
way. Workers stop when the study's shared deadline passes or its trial count is reached; the
`automl search` process that created the study refits and exports the winner.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna

from automl.components.base import BuildContext
from automl.components.runtime import Runtime, limit_threads, pick_device
from automl.config import Budget, redact_url
from automl.data.dataset import Dataset
from automl.data.load import load_dataset
from automl.exceptions import ConfigError
from automl.logger import log
from automl.pipeline.metrics import METRICS
from automl.search.budget import Deadline
from automl.search.frozen import FROZEN_KEY, check_frozen, problem_view
from automl.search.loop import TrialLog, run_trials, worker_id
from automl.search.objective import Objective
from automl.search.quota import StudyLock
from automl.search.signals import Stop, graceful_stop
from automl.search.study import (
    SEARCH_END_KEY,
    SETTINGS_KEY,
    check_same_problem,
    make_storage,
    open_study,
    stored_problem,
)
from automl.space.preset import build_space
from automl.tracking.base import NullTracker, Tracker


@dataclass(frozen=True)
class WorkerResult:
    study_name: str
    worker: str
    trials_run: int
    stopped_by: str  # budget | trials | interrupted
    seconds: float


def work(
    storage_url: str,
    study_name: str,
    budget: Budget | None = None,
    tracking_uri: str | None = None,
    data: Path | None = None,
    cache_dir: Path | None = None,
    n_jobs: int = 1,
) -> WorkerResult:
    with limit_threads(n_jobs), graceful_stop() as stop:  # a worker exports nothing: a signal just stops it
        return _work(storage_url, study_name, budget, tracking_uri, data, cache_dir, n_jobs, stop)


def _work(
    storage_url: str,
    study_name: str,
    budget: Budget | None,
    tracking_uri: str | None,
    data: Path | None,
    cache_dir: Path | None,
    n_jobs: int,
    stop: Stop,
) -> WorkerResult:
    if storage_url.startswith("sqlite"):
        raise ConfigError(
            f"{redact_url(storage_url)} is SQLite, which cannot take writes from several processes "
            "reliably. Start the search on a storage that can: on one machine "
            "--storage journal:///<folder>/optuna.journal, on several machines "
            "--storage postgresql://user@host:5432/db; then pass the same URL to automl worker."
        )
    probe = make_storage(storage_url)
    if study_name not in {s.study_name for s in optuna.get_all_study_summaries(probe)}:
        raise ConfigError(
            f"No study {study_name!r} in {redact_url(storage_url)}. Start it with "
            f"`automl search ... --storage URL --study {study_name}` first; workers "
            "only join studies."
        )
    study = optuna.load_study(study_name=study_name, storage=probe)
    settings = study.user_attrs.get(SETTINGS_KEY)
    problem = stored_problem(study)
    if settings is None or problem is None:
        raise ConfigError(
            f"Study {study_name!r} was not created by automl search (no problem "
            "definition stored); workers can only join automl studies."
        )
    if hasattr(probe, "engine"):
        probe.engine.dispose()  # its connections are not needed past this point
    storage = make_storage(storage_url, settings["heartbeat"])
    study, _ = open_study(storage, study_name, problem.direction, settings["seed"] + os.getpid())

    data_path = Path(data) if data else Path(problem.data)
    if not data_path.exists():
        raise ConfigError(
            f"The study's data {problem.data} is not on this machine. Mount it at the "
            "same path, or pass its local copy with --data."
        )
    ds = study_dataset(settings, data_path)
    check_same_problem(problem, ds.fingerprint(), problem.metric, study_name)
    y = _encode(ds.y, problem.classes)

    frozen = study.user_attrs.get(FROZEN_KEY) or {}
    space = build_space(
        settings["space"],
        problem.profile,
        source=problem.space_source,
        budget=frozen.get("space_budget", settings.get("budget_seconds")),
    )
    # Refused before any trial when this machine resolves the space differently (a backbone
    # missing here) or reads another pool: its trials would not be the study's.
    view = problem_view(space, ds.unlabelled, frozen.get("cv", 5), problem.metric, settings["space"])
    check_frozen(study, view, "run the worker")
    metric = METRICS.get(problem.metric)
    cache = cache_dir or (Path(settings["cache_dir"]) if settings.get("cache_dir") else Path("automl-cache"))
    runtime = Runtime(device=pick_device(), n_jobs=n_jobs, cache_dir=str(cache), unlabelled=ds.unlabelled)
    ctx = BuildContext(profile=problem.profile, seed=settings["seed"], runtime=runtime)

    left = _study_seconds_left(study)
    if left <= 0:
        log.info(
            "Study %r has no budget left (its search has ended); nothing to do. Re-run "
            "automl search with a larger --budget to extend it.",
            study_name,
        )
        return WorkerResult(study_name, worker_id(), 0, "budget", 0.0)
    deadline = Deadline(min(left, budget.seconds) if budget else left, reserve=0.0)
    tracker = _tracker(tracking_uri or settings.get("tracking_uri"), study)
    trial_log = TrialLog(tracker, metric)
    count = {"n": 0}

    def on_trial() -> None:
        count["n"] += 1
        deadline.end_no_later_than(_study_seconds_left(study))

    log.info(
        "Worker %s joined study %r: %s, %d-fold CV, %s; up to %.0fs.",
        worker_id(),
        study_name,
        problem.modality,
        problem.folds.n_splits,
        metric.name,
        deadline.search_left(),
    )
    stopped = run_trials(
        study,
        Objective(space, ds.X, y, problem.folds, metric, ctx, deadline),
        lock=StudyLock(storage_url, study_name),
        limit=lambda: (study.user_attrs.get(SETTINGS_KEY) or settings).get("trials"),
        deadline=deadline,
        trial_log=trial_log,
        on_trial=on_trial,
        stop=stop,
    )
    log.info("Worker %s stopped (%s) after %d trial(s).", worker_id(), stopped, count["n"])
    return WorkerResult(study_name, worker_id(), count["n"], stopped, deadline.elapsed())


def study_dataset(settings: dict, data: Path) -> Dataset:
    """The data at ``data`` read the way the study's search read it (label, text column, pool)."""
    return load_dataset(
        data,
        label=settings["label"],
        text_column=settings["text_column"],
        unlabelled=Path(settings["unlabelled"]) if settings["unlabelled"] else None,
    )


def _encode(y, classes: list) -> np.ndarray:
    """Labels as indices into the study's classes (compared as strings, as the study stores them)."""
    index = {str(c): i for i, c in enumerate(classes)}
    return np.array([index[str(v)] for v in y], dtype=int)


def _study_seconds_left(study: optuna.Study) -> float:
    end = study.user_attrs.get(SEARCH_END_KEY)  # read from the storage on every access
    return float("inf") if end is None else float(end) - time.time()


def _tracker(uri: str | None, study: optuna.Study) -> Tracker:
    parent = study.user_attrs.get("automl.mlflow_parent_run_id")
    if not uri or parent is None:
        log.warning(
            "No tracking URI and parent run for this study; this worker's trials are "
            "not sent to MLflow (the search back-fills them at its end)."
        )
        return NullTracker()
    if "***" in uri:
        raise ConfigError(
            "The study's tracking URI has its credentials redacted; pass the full URI with --tracking-uri."
        )
    from automl.tracking.mlflow_tracker import MlflowTracker

    tracker = MlflowTracker(uri, experiment=f"automl/{study.study_name}")
    tracker.attach(parent)
    return tracker
