"""A search, end to end: data -> profile -> space -> study -> trials -> refit -> export."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from automl import timing
from automl.components.base import BuildContext
from automl.components.pretrain.checkpoint import collect_curves
from automl.components.runtime import Runtime, limit_threads, pick_device
from automl.config import SearchConfig, format_duration, redact_url
from automl.data.dataset import Dataset
from automl.data.load import load_dataset
from automl.data.profile import DataProfile, profile_dataset
from automl.data.splits import make_fold_plan
from automl.exceptions import AutoMLError
from automl.export.refit import refit_and_save
from automl.logger import log
from automl.pipeline.metrics import METRICS, MetricInfo, default_metric
from automl.search.budget import (
    OVERTIME_SECONDS,
    OVERTIME_SHARE,
    Deadline,
    DeadlineReached,
    hard_deadline,
)
from automl.search.evaluate import cross_validate
from automl.search.frozen import FROZEN_KEY, check_frozen, freeze, problem_view
from automl.search.learning import CURVE_FILE, CURVE_SHARE, ISSUES_FILE, measure_curves, write_label_issues
from automl.search.loop import WORKER_KEY, TrialLog, backfill, run_trials, wait_for_running
from automl.search.objective import Objective, trial_record
from automl.search.progress import SearchStatus, live_status
from automl.search.quota import StudyLock
from automl.search.shipped import ShipPlan, fallback_trials, plan_shipment
from automl.search.signals import Stop, graceful_stop
from automl.search.study import (
    FINISHED,
    PROBLEM_KEY,
    SEARCH_END_KEY,
    SETTINGS_KEY,
    Problem,
    best_first,
    check_same_problem,
    make_storage,
    open_study,
    stored_problem,
    value_of,
)
from automl.space.preset import SearchSpace, load_space
from automl.space.sample import start_points
from automl.space.spec import ComponentSpec, PipelineSpec
from automl.timing import timed
from automl.tracking.base import NullTracker, Tracker
from automl.tracking.model_registry import MODEL_ARTIFACT


@dataclass(frozen=True)
class SearchResult:
    study_name: str
    run_dir: Path
    model_dir: Path
    metric: str
    best_value: float
    best_trial: int
    best_spec: PipelineSpec
    n_complete: int
    n_pruned: int
    n_failed: int
    seconds: float
    stopped_by: str  # budget | trials | interrupted
    profile: DataProfile
    tracking_uri: str | None = None
    parent_run_id: str | None = None
    shipped: ShipPlan | None = None  # what the model folder holds, and its CV estimate
    curve_sentence: str | None = None  # what more labels would buy, when the curve was measured


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
    problem = _problem(study, ds, profile, metric, y, classes, config, space)
    space = _freeze_or_check(study, created, space, ds, config, metric, profile)
    if not created:
        _fail_orphans(study)
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
    _publish_search_end(study, deadline)
    trial_log = TrialLog(tracker, metric)
    stopped_by = _optimize(
        study, Objective(space, ds.X, y, problem.folds, metric, ctx, deadline), config, deadline, trial_log
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

    best = _best_trial(study)
    spec = PipelineSpec.from_dict(best.user_attrs["spec"])
    log.info("Best trial: %d, %s=%.4f: %s", best.number, metric.name, best.value, spec.describe())
    with timed("selection"):
        shipped = plan_shipment(study, y, problem.folds, metric, deadline, seed=config.seed)
    _log_shipment(shipped, metric)
    best_oof = best.user_attrs.get("oof")
    shipped_oof = shipped.selection.oof if shipped.selection is not None else best_oof
    write_label_issues(
        None if shipped_oof is None else np.asarray(shipped_oof), y, classes.tolist(), ds.X, run_dir
    )
    if curves:
        for curve in curves["curves"]:
            log.info(
                "Learning curve of trial %d (%s): %s.", curve["trial"], curve["learner"], curve["sentence"]
            )
    meta = {
        "modality": profile.modality,
        "classes": classes.tolist(),
        "schema": ds.schema,
        "metric": metric.name,
        "cv_score": shipped.estimate["mean"],
        "cv_estimate": shipped.estimate,
        "cv_estimate_kind": shipped.estimate_kind,
        "cv_folds": len(problem.folds),
        "best_trial": best.number,
        "best_trial_cv": value_of(best),
        "fold_scores": best.user_attrs.get("fold_scores"),
        "selection_rule": shipped.rule,
        "calibration": shipped.calibration.to_dict() if shipped.calibration else None,
        "study": config.study_name,
        "data": str(Path(config.data).resolve()),  # for `automl suggest`, when it is still there
        "label": config.label,
        "text_column": config.text_column,
        "fingerprint": problem.fingerprint,
        "profile": profile.to_dict(),
        "categories": _categories(ds, profile),
    }
    with timed("refit"):
        model_dir, refit_s, shipped = _refit(
            shipped, study, ds.X, y, ctx, run_dir / "model", meta, metric, deadline, config.budget.seconds
        )
    ssl_curves = collect_curves(runtime.cache_dir, run_dir / "ssl")
    if ssl_curves:
        tracker.log_artifacts({"ssl": ssl_curves})

    counts = {s: sum(t.state == s for t in study.trials) for s in FINISHED}
    result = SearchResult(
        study_name=config.study_name,
        run_dir=run_dir,
        model_dir=model_dir,
        metric=metric.name,
        best_value=value_of(best),
        best_trial=best.number,
        best_spec=spec,
        n_complete=counts[FINISHED[0]],
        n_pruned=counts[FINISHED[1]],
        n_failed=counts[FINISHED[2]],
        seconds=deadline.elapsed(),
        stopped_by=stopped_by,
        profile=profile,
        tracking_uri=redact_url(config.tracking),
        parent_run_id=parent,
        shipped=shipped,
        curve_sentence=curves["curves"][0]["sentence"] if curves else None,
    )
    _write_summary(result, study, metric, config, refit_s, baseline, shipped)
    try:  # the report is a convenience: it must never fail a search that has its model
        from automl.report import save_labels, write_report

        save_labels(run_dir, y, len(classes))
        with timed("report"):
            report = write_report(run_dir, study)
        with timed("tracking"):
            tracker.log_artifacts(
                {"": report, "labels": run_dir / ISSUES_FILE, "learning": run_dir / CURVE_FILE}
            )
    except Exception as e:
        log.warning("Could not write the search report: %s: %s", type(e).__name__, e)
    with timed("tracking"):
        logged = _export_to_tracker(tracker, model_dir, run_dir)
        if config.register:
            _register(config, parent if logged else None, shipped, problem)
    _record_time(run_dir, deadline.elapsed(), study)
    tracker.finish_search(
        {
            f"best_{metric.name}": result.best_value,
            "trials_complete": result.n_complete,
            "trials_pruned": result.n_pruned,
            "trials_failed": result.n_failed,
            "search_seconds": result.seconds,
            "refit_seconds": refit_s,
            f"baseline_{metric.name}": baseline,
            f"shipped_{metric.name}_estimate": shipped.estimate["mean"],
            f"shipped_{metric.name}_estimate_std": shipped.estimate.get("std", 0.0),
            **_calibration_metrics(shipped),
            **_curve_metrics(curves, metric),
            "best_pipeline": spec.describe(),
            "shipped_pipeline": shipped.describe()[:5000],
            "selection_rule": shipped.rule,
            "stopped_by": stopped_by,
        },
        best_trial=best.number,
        status="KILLED" if stopped_by == "interrupted" else "FINISHED",
    )
    if hasattr(storage, "engine"):
        storage.engine.dispose()  # API callers may run many searches in one process
    log.info(
        "Done in %.0fs: %d complete, %d pruned, %d failed trials. Model: %s",
        result.seconds,
        result.n_complete,
        result.n_pruned,
        result.n_failed,
        model_dir,
    )
    return result


def _problem(
    study: optuna.Study,
    ds: Dataset,
    profile: DataProfile,
    metric: MetricInfo,
    y: np.ndarray,
    classes: np.ndarray,
    config: SearchConfig,
    space: SearchSpace,
) -> Problem:
    fingerprint = ds.fingerprint()
    stored = stored_problem(study)
    if stored is not None:
        check_same_problem(stored, fingerprint, metric.name, config.study_name)
        done = sum(t.state in FINISHED for t in study.trials)
        log.info("Resuming study %r: %d finished trial(s) kept, same folds.", config.study_name, done)
        return stored
    if study.trials:
        raise AutoMLError(
            f"Study {config.study_name!r} exists but was not created by automl. Pick another --study name."
        )
    problem = Problem(
        fingerprint,
        str(Path(config.data).resolve()),
        profile.modality,
        metric.name,
        metric.direction,
        profile,
        make_fold_plan(y, config.cv, config.seed, profile),
        space.source,
        classes.tolist(),
    )
    study.set_user_attr(PROBLEM_KEY, problem.to_dict())
    return problem


def _refit(
    shipped: ShipPlan,
    study: optuna.Study,
    X: Any,
    y: np.ndarray,
    ctx: BuildContext,
    model_dir: Path,
    meta: dict[str, Any],
    metric: MetricInfo,
    deadline: Deadline,
    budget: float,
) -> tuple[Path, float, ShipPlan]:
    """Refit and save what ships, within the budget. When that fails or cannot finish, the
    next-best single trials are tried in the overtime the budget allows: a search that
    completed a trial never ends without a model."""
    overtime = max(OVERTIME_SHARE * budget, OVERTIME_SECONDS)
    calibrator = shipped.calibration.calibrator if shipped.calibration else None
    runtime = replace(ctx.runtime, time_limit=max(deadline.total_left(), 1.0))
    try:
        with hard_deadline(deadline.total_left() + overtime / 2):
            return (
                *refit_and_save(
                    list(shipped.specs),
                    list(shipped.weights),
                    X,
                    y,
                    replace(ctx, runtime=runtime),
                    model_dir,
                    meta,
                    calibrator,
                ),
                shipped,
            )
    except (Exception, DeadlineReached) as e:
        first_error = f"{type(e).__name__}: {e}"
    for trial in fallback_trials(study, metric, shipped):
        left = max(deadline.total_left() + overtime / 2, 1.0)
        fallback = ShipPlan.single(trial)
        log.warning(
            "The refit of the chosen model did not finish (%s); exporting the next-best trial instead: %s",
            first_error.splitlines()[0][:300],
            fallback.describe(),
        )
        try:
            with hard_deadline(left):
                saved = refit_and_save(
                    list(fallback.specs),
                    [1.0],
                    X,
                    y,
                    replace(ctx, runtime=replace(runtime, time_limit=left)),
                    model_dir,
                    {**meta, **fallback.meta_update()},
                )
            return (*saved, fallback)
        except (Exception, DeadlineReached) as e:
            first_error = f"{type(e).__name__}: {e}"
    raise AutoMLError(
        f"No model could be refitted and saved ({first_error.splitlines()[0][:300]}). "
        "The study keeps every trial: re-run the same command with a larger --budget."
    )


def _freeze_or_check(
    study: optuna.Study,
    created: bool,
    space: SearchSpace,
    ds: Dataset,
    config: SearchConfig,
    metric: MetricInfo,
    profile: DataProfile,
) -> SearchSpace:
    """Freeze a new study's problem; refuse a resume whose problem differs. A resume resolves
    the space with the budget the study was created with, so that a longer --budget extends
    the search instead of offering other choices."""
    stored = study.user_attrs.get(FROZEN_KEY) or {}
    budget = stored.get("space_budget", config.budget.seconds)
    if budget != config.budget.seconds:
        space = load_space(config.space, profile, budget=budget)
    view = problem_view(space, ds.unlabelled, config.cv, metric.name, _space_yaml(space))
    if created:
        freeze(study, {**view, "space_budget": config.budget.seconds})
    else:
        check_frozen(study, view, "resume")
    return space


def _space_yaml(space: SearchSpace) -> Any:
    import yaml

    return yaml.safe_load(Path(space.source).read_text())


def _fail_orphans(study: optuna.Study) -> None:
    """Trials left RUNNING by a process of this machine that is gone (a search killed with
    kill -9, a crash) are marked failed, so they are not waited for and can be retried."""
    host = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        owner = str(t.user_attrs.get(WORKER_KEY, ""))
        where, _, pid = owner.rpartition(":")
        if where == host and pid.isdigit() and not _alive(int(pid)):
            study._storage.set_trial_user_attr(
                t._trial_id, "error", f"its process ({owner}) ended while it ran (killed or crashed)"
            )
            study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
            log.info(
                "Trial %d was left running by a process that is gone (%s); marked failed.", t.number, owner
            )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _categories(ds: Dataset, profile: DataProfile, cap: int = 1000) -> dict[str, list[str]]:
    """The values each categorical column took in training, so predict can warn on new ones."""
    if not isinstance(ds.X, pd.DataFrame):
        return {}
    return {
        c: sorted(ds.X[c].dropna().astype(str).unique().tolist())[:cap]
        for c in profile.categorical_columns
        if c in ds.X.columns
    }


def _log_shipment(shipped: ShipPlan, metric: MetricInfo) -> None:
    log.info("Shipping (rule %r): %s", shipped.rule, shipped.describe())
    log.info(
        "The shipped model's %s; the best single trial's CV is %.4f ± %.3f (trial %d, "
        "optimistic: the best of many noisy scores).",
        shipped.sentence(metric.name),
        shipped.best_cv,
        shipped.best_cv_std,
        shipped.best_trial,
    )
    if shipped.selection is not None:
        log.info(
            "Selection rules, estimated by bootstrap bias-corrected CV: %s.",
            ", ".join(f"{r.rule} {r.mean:.4f}" for r in shipped.selection.rules),
        )
    cal = shipped.calibration
    if cal is not None:
        log.info(
            "Calibration: %s (out-of-fold log loss %.3f -> %.3f, ECE %.3f -> %.3f).",
            cal.method,
            cal.log_loss_before,
            cal.log_loss_after,
            cal.ece_before,
            cal.ece_after,
        )


def _curve_metrics(curves: dict[str, Any] | None, metric: MetricInfo) -> dict[str, float]:
    """The best pipeline's learning-curve forecast, for the MLflow parent run."""
    if not curves:
        return {}
    curve = curves["curves"][0]
    out = {}
    for factor, (point, low, high) in curve["forecasts"].items():
        out[f"forecast_{metric.name}_{factor}x_labels"] = point
        out[f"forecast_{metric.name}_{factor}x_labels_low"] = low
        out[f"forecast_{metric.name}_{factor}x_labels_high"] = high
    return out


def _calibration_metrics(shipped: ShipPlan) -> dict[str, float]:
    cal = shipped.calibration
    if cal is None:
        return {}
    return {
        "oof_log_loss_before_calibration": cal.log_loss_before,
        "oof_log_loss": cal.log_loss_after,
        "oof_ece_before_calibration": cal.ece_before,
        "oof_ece": cal.ece_after,
    }


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
    study: optuna.Study, objective: Objective, config: SearchConfig, deadline: Deadline, trial_log: TrialLog
) -> str:
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

    def on_best(trial: optuna.trial.FrozenTrial) -> None:
        deadline.expect_refit(float(trial.user_attrs.get("fit_seconds", 0.0)))
        _publish_search_end(study, deadline)

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
        )
    if stopped == "interrupted":
        log.warning(
            "Interrupted: every finished trial is kept in the study; refitting the best "
            "so far (press Ctrl-C again to abort). Re-run the same command to resume."
        )
    return stopped


def _publish_search_end(study: optuna.Study, deadline: Deadline) -> None:
    """Workers stop starting trials when this search does (its refit reserve included)."""
    study.set_user_attr(SEARCH_END_KEY, time.time() + deadline.search_left())


def _n_finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def _best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    try:
        return study.best_trial
    except ValueError:
        failures = [
            t.user_attrs.get("error", "") for t in study.trials if t.state == optuna.trial.TrialState.FAIL
        ]
        first = failures[0].splitlines()[0] if failures else "no trial finished in time"
        raise AutoMLError(
            f"No trial completed, so there is no model to export ({first}). Give the "
            "search a larger --budget, or check the failures in the log/MLflow."
        ) from None


def leaderboard(study: optuna.Study, metric: MetricInfo, top: int = 10) -> list[dict[str, Any]]:
    rows = []
    for t in best_first(study.trials, metric.direction == "maximize")[:top]:
        rec = trial_record(t)
        rows.append(
            {
                "trial": t.number,
                "value": t.value,
                "cv_std": rec.cv_std,
                "pipeline": PipelineSpec.from_dict(t.user_attrs["spec"]).describe(),
            }
        )
    return rows


def _write_summary(
    result: SearchResult,
    study: optuna.Study,
    metric: MetricInfo,
    config: SearchConfig,
    refit_s: float,
    baseline: float,
    shipped: ShipPlan,
) -> dict[str, Any]:
    summary = {
        "study": result.study_name,
        "data": str(config.data),
        "metric": result.metric,
        "best_value": result.best_value,
        "best_trial": result.best_trial,
        "best_pipeline": result.best_spec.to_dict(),
        "baseline_value": baseline,
        "budget": str(config.budget),
        "seconds": round(result.seconds, 1),
        "refit_seconds": round(refit_s, 2),
        "trials": {"complete": result.n_complete, "pruned": result.n_pruned, "failed": result.n_failed},
        "stopped_by": result.stopped_by,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "model": str(result.model_dir),
        "tracking_uri": result.tracking_uri,
        "storage": redact_url(config.storage_url),
        "mlflow_parent_run_id": result.parent_run_id,
        "leaderboard": leaderboard(study, metric),
        "shipped": shipped.to_dict(),
    }
    (result.run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def _record_time(run_dir: Path, wall: float, study: optuna.Study) -> None:
    """Where the wall time went, added to summary.json once everything else is done: the
    seconds per category and when the first trial of this run finished."""
    path = run_dir / "summary.json"
    summary = json.loads(path.read_text())
    started = time.time() - wall
    ends = [
        t.datetime_complete.timestamp()
        for t in study.get_trials(deepcopy=False)
        if t.state == optuna.trial.TrialState.COMPLETE and t.datetime_complete is not None
    ]
    ends = [e - started for e in ends if e >= started]
    summary["time"] = {
        "wall": round(wall, 2),
        "first_trial": round(min(ends), 2) if ends else None,
        **timing.totals(wall),
    }
    path.write_text(json.dumps(summary, indent=2, default=str))


def _export_to_tracker(tracker: Tracker, model_dir: Path, run_dir: Path) -> bool:
    """Log the model as an MLflow pyfunc on the parent run; False when it could not be."""
    if isinstance(tracker, NullTracker):
        return False
    try:
        from automl.export.mlflow_model import save_mlflow_model

        mlflow_dir = save_mlflow_model(model_dir, run_dir)
        tracker.log_artifacts({MODEL_ARTIFACT: mlflow_dir, "": run_dir / "summary.json"})
        shutil.rmtree(mlflow_dir.parent, ignore_errors=True)
        return True
    except Exception as e:
        log.warning("Could not log the model to MLflow (%s); it is saved at %s", e, model_dir)
        return False


def _register(config: SearchConfig, parent: str | None, shipped: ShipPlan, problem: Problem) -> None:
    """A new version of ``--register``'s model; a failure is a warning: the model is saved."""
    if parent is None:
        log.warning(
            "Not registering %r: the model could not be logged to MLflow (see above). It is "
            "saved in the model folder; re-run the search to register it.",
            config.register,
        )
        return
    try:
        from automl.tracking.model_registry import register_model

        register_model(
            config.tracking,
            parent,
            str(config.register),
            {
                "automl.study": config.study_name,
                "automl.fingerprint": problem.fingerprint,
                "automl.metric": problem.metric,
                "automl.cv_estimate": round(shipped.estimate["mean"], 4),
                "automl.best_trial_cv": round(shipped.best_cv, 4),
                "automl.selection_rule": shipped.rule,
            },
        )
    except Exception as e:
        log.warning(
            "Could not register the model as %r in MLflow: %s. It is saved in the model folder.",
            config.register,
            str(e).splitlines()[0][:300],
        )
