"""A search, end to end: data -> profile -> space -> study -> trials -> refit -> export."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from automl import timing
from automl.components.base import BuildContext
from automl.components.runtime import Runtime, limit_threads, pick_device
from automl.config import SearchConfig, format_duration, redact_url
from automl.data.load import load_dataset
from automl.data.profile import DataProfile, profile_dataset
from automl.logger import log
from automl.pipeline.metrics import METRICS, MetricInfo, default_metric
from automl.search.budget import (
    Deadline,
)
from automl.search.evaluate import cross_validate
from automl.search.finish import SearchResult, SearchRun, finish
from automl.search.learning import CURVE_SHARE, measure_curves
from automl.search.loop import TrialLog, backfill, run_trials, wait_for_running
from automl.search.objective import Objective
from automl.search.progress import SearchStatus, live_status
from automl.search.quota import StudyLock
from automl.search.resume import fail_orphans, freeze_or_check, open_problem
from automl.search.signals import Stop, graceful_stop
from automl.search.study import (
    FINISHED,
    SEARCH_END_KEY,
    SETTINGS_KEY,
    Problem,
    best_first,
    make_storage,
    open_study,
    refit_fold_seconds,
)
from automl.space.preset import SearchSpace, load_space
from automl.space.sample import start_points
from automl.space.spec import ComponentSpec, PipelineSpec
from automl.timing import timed
from automl.tracking.base import Tracker


def encode_labels(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(classes, y as ints 0..K-1). Labels of mixed types are compared as strings."""
    try:
        classes, enc = np.unique(y, return_inverse=True)
    except TypeError:
        classes, enc = np.unique(np.asarray(y).astype(str), return_inverse=True)
    return classes, enc.astype(int)


def search(config: SearchConfig, tracker: Tracker | None = None) -> SearchResult:
    """Search, select what ships, refit it and export it; see the module docstring."""
    with limit_threads(config.n_jobs or os.cpu_count() or 1), graceful_stop() as stop:
        return _search(config, tracker, stop)


def _search(config: SearchConfig, tracker: Tracker | None, stop: Stop) -> SearchResult:
    deadline = Deadline(config.budget.seconds)
    deadline.set_aside(CURVE_SHARE * config.budget.seconds)  # the learning curve's share
    timing.reset()
    with timed("load"):
        ds = load_dataset(
            config.data, label=config.label, unlabelled=config.unlabelled, text_column=config.text_column
        )
        profile = profile_dataset(ds)
    metric = METRICS.get(config.metric or default_metric(profile))
    space = load_space(config.space, profile, budget=config.budget.seconds)
    classes, y = encode_labels(ds.y)
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)

    storage = make_storage(config.storage_url, config.heartbeat)
    study, created = open_study(storage, config.study_name, metric.direction, config.seed)
    problem = open_problem(study, ds, profile, metric, y, classes, config, space)
    space = freeze_or_check(study, created, space, ds, config, metric, profile)
    if not created:
        fail_orphans(study)
    if created:
        for params in start_points(space, profile):
            study.enqueue_trial(params, skip_if_exists=True)
    n_jobs = config.n_jobs or os.cpu_count() or 1
    runtime = Runtime(
        device=pick_device(), n_jobs=n_jobs, cache_dir=str(config.output / "cache"), unlabelled=ds.unlabelled
    )
    ctx = BuildContext(profile=profile, seed=config.seed, runtime=runtime)
    baseline = _baseline(study, ds.X, y, problem, metric, ctx)
    _log_regime(profile, space, problem, metric)
    (run_dir / "profile.json").write_text(json.dumps(profile.to_dict(), indent=2, default=str))

    with timed("tracking"):
        tracker = tracker if tracker is not None else _default_tracker(config)
        parent = tracker.start_search(
            config.study_name,
            _search_params(config, problem, profile, space),
            description=profile.statement(space.strategies()),
            resume_id=study.user_attrs.get("automl.mlflow_parent_run_id"),
        )
        if parent:
            study.set_user_attr("automl.mlflow_parent_run_id", parent)
        tracker.log_artifacts({"": run_dir / "profile.json", "space": Path(space.source)})
    study.set_user_attr(SETTINGS_KEY, _settings(config, ctx, space))
    reserve_for_best(study, deadline, metric.direction == "maximize")
    _publish_search_end(study, deadline)
    trial_log = TrialLog(tracker, metric)
    stopped_by = _optimize(
        study,
        Objective(space, ds.X, y, problem.folds, metric, ctx, deadline),
        config,
        deadline,
        trial_log,
        stop,
    )
    if stopped_by != "interrupted":
        wait_for_running(study, timeout=max(0.0, deadline.total_left() - deadline.reserve))
    curves = None
    if stopped_by != "interrupted":
        try:
            with timed("learning_curve"):
                curves = measure_curves(
                    study, ds.X, y, problem.folds, metric, ctx, deadline.aside_left(), run_dir
                )
        except KeyboardInterrupt:
            log.warning("Learning curve skipped: interrupted.")
    stop.finishing()  # from here a signal no longer interrupts: the export completes
    _backfill(study, tracker, trial_log)
    # A tracking server that was down at the start opens the parent run when it answers.
    parent = parent or getattr(tracker, "parent_id", None)
    if parent and study.user_attrs.get("automl.mlflow_parent_run_id") != parent:
        study.set_user_attr("automl.mlflow_parent_run_id", parent)

    result = finish(
        SearchRun(
            config,
            ds,
            profile,
            metric,
            y,
            classes,
            run_dir,
            study,
            problem,
            ctx,
            deadline,
            tracker,
            parent,
            baseline,
            stopped_by,
            curves,
        )
    )
    if hasattr(storage, "engine"):
        storage.engine.dispose()  # API callers may run many searches in one process
    return result


def _baseline(
    study: optuna.Study, X: Any, y: np.ndarray, problem: Problem, metric: MetricInfo, ctx: BuildContext
) -> float:
    """The class-prior score on the study's folds: the floor every trial must clear."""
    if "automl.baseline" not in study.user_attrs:
        spec = PipelineSpec(ComponentSpec("dummy"))
        score = cross_validate(spec, X, y, problem.folds, metric, ctx).mean
        study.set_user_attr("automl.baseline", score)
    score = float(study.user_attrs["automl.baseline"])
    log.info("Baseline (predict the class prior): %s=%.4f", metric.name, score)
    return score


def _log_regime(profile: DataProfile, space: SearchSpace, problem: Problem, metric: MetricInfo) -> None:
    log.info("Regime: %s", profile.statement(space.strategies()))
    folds = problem.folds
    log.info(
        "CV plan: %d-fold stratified%s, metric %s (%s).",
        folds.n_splits,
        f" x {folds.n_repeats} repeats" if folds.n_repeats > 1 else "",
        metric.name,
        metric.direction,
    )
    for note in space.notes:
        log.info("Note: %s", note)


def _settings(config: SearchConfig, ctx: BuildContext, space: SearchSpace) -> dict[str, Any]:
    """What a worker needs to load the data and run trials exactly as this search does."""
    import yaml

    return {
        "space": yaml.safe_load(Path(space.source).read_text()),
        "label": config.label,
        "text_column": config.text_column,
        "unlabelled": str(Path(config.unlabelled).resolve()) if config.unlabelled else None,
        "seed": config.seed,
        "trials": config.trials,
        "heartbeat": config.heartbeat,
        "cache_dir": str(Path(ctx.runtime.cache_dir).resolve()) if ctx.runtime.cache_dir else None,
        "tracking_uri": redact_url(config.tracking),
        "study": config.study_name,
        "budget_seconds": config.budget.seconds,
    }


def _backfill(study: optuna.Study, tracker: Tracker, trial_log: TrialLog) -> None:
    logged = getattr(tracker, "logged_trials", None)
    if logged is None:
        return
    try:
        n = backfill(study, trial_log, logged())
    except Exception as e:
        log.warning("Could not check the tracker for missing trials: %s", e)
        return
    if n:
        log.info("Logged %d trial(s) the tracker had not received (other workers' or earlier failures).", n)


def _search_params(
    config: SearchConfig, problem: Problem, profile: DataProfile, space: SearchSpace
) -> dict[str, Any]:
    return {
        "data": problem.data,
        "modality": profile.modality,
        "metric": problem.metric,
        "budget": str(config.budget),
        "trials": config.trials,
        "cv_folds": problem.folds.n_splits,
        "cv_repeats": problem.folds.n_repeats,
        "seed": config.seed,
        "space": space.source,
        "storage": redact_url(config.storage_url),
        "n_rows": profile.n_rows,
        "n_classes": profile.n_classes,
        "n_unlabelled": profile.n_unlabelled,
        "regime": profile.regime,
        "imbalance": round(profile.imbalance, 3),
        "fingerprint": problem.fingerprint,
    }


def _default_tracker(config: SearchConfig) -> Tracker:
    from automl.tracking.mlflow_tracker import MlflowTracker

    return MlflowTracker(
        config.tracking, experiment=f"automl/{config.study_name}", artifact_root=config.output / "mlartifacts"
    )


def _optimize(
    study: optuna.Study,
    objective: Objective,
    config: SearchConfig,
    deadline: Deadline,
    trial_log: TrialLog,
    stop: Stop,
) -> str:
    def on_best(trial: optuna.trial.FrozenTrial) -> None:
        deadline.expect_refit(refit_fold_seconds(trial))
        _publish_search_end(study, deadline)

    remaining = None
    if config.trials is not None:
        remaining = config.trials - _n_finished(study)
        if remaining <= 0:
            log.info(
                "Study already has %d finished trials (--trials %d): refitting the best.",
                _n_finished(study),
                config.trials,
            )
            return "trials"
    if deadline.search_left() <= 0:
        return "budget"
    log.info(
        "Searching for up to %s%s.",
        format_duration(deadline.search_left()),
        f" or {remaining} more trial(s)" if remaining else "",
    )

    status = SearchStatus(deadline, trial_log.metric, config.study_name)
    status.update(study)
    with live_status(status, enabled=log.isEnabledFor(logging.INFO)):
        stopped = run_trials(
            study,
            objective,
            lock=StudyLock(config.storage_url, config.study_name),
            limit=lambda: config.trials,
            deadline=deadline,
            trial_log=trial_log,
            on_best=on_best,
            on_trial=lambda: status.update(study),
            stop=stop,
        )
    if stopped == "interrupted":
        log.warning(
            "Interrupted: every finished trial is kept in the study; refitting the best "
            "so far (press Ctrl-C again to abort). Re-run the same command to resume."
        )
    return stopped


def reserve_for_best(study: optuna.Study, deadline: Deadline, maximize: bool) -> None:
    """Reserve the refit time of the study's best trial so far. A resumed study's best may ship
    without any new trial beating it, and its refit needs that time before anything (the
    learning curve included) takes it."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if complete:
        deadline.expect_refit(refit_fold_seconds(best_first(complete, maximize)[0]))


def _publish_search_end(study: optuna.Study, deadline: Deadline) -> None:
    """Workers stop starting trials when this search does (its refit reserve included)."""
    study.set_user_attr(SEARCH_END_KEY, time.time() + deadline.search_left())


def _n_finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))
