"""The end of a search: choose what ships, refit and save it, write the summary and the
report, and give the tracker the last word."""

from __future__ import annotations

import json
import shutil
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
from automl.config import SearchConfig, redact_url
from automl.data.dataset import Dataset
from automl.data.profile import DataProfile
from automl.exceptions import AutoMLError, first_line
from automl.export.refit import refit_and_save
from automl.labelling.class_mix import oof_confusion
from automl.logger import log
from automl.pipeline.metrics import MetricInfo
from automl.search.budget import (
    OVERTIME_SECONDS,
    OVERTIME_SHARE,
    Deadline,
    DeadlineReached,
    hard_deadline,
)
from automl.search.learning import CURVE_FILE, ISSUES_FILE, curve_sentence, write_label_issues
from automl.search.objective import trial_record
from automl.search.shipped import ShipPlan, fallback_trials, plan_shipment
from automl.search.study import (
    FINISHED,
    Problem,
    best_first,
    value_of,
)
from automl.space.spec import PipelineSpec
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


@dataclass
class SearchRun:
    """What the end of a search works with, gathered by the orchestrator."""

    config: SearchConfig
    ds: Dataset
    profile: DataProfile
    metric: MetricInfo
    y: np.ndarray
    classes: np.ndarray
    run_dir: Path
    study: optuna.Study
    problem: Problem
    ctx: BuildContext
    deadline: Deadline
    tracker: Tracker
    parent: str | None
    baseline: float
    stopped_by: str
    curves: dict[str, Any] | None


def finish(run: SearchRun) -> SearchResult:
    """What ships, its refit and export, the summary, the report and the tracker's last word."""
    best = best_trial(run.study)
    spec = PipelineSpec.from_dict(best.user_attrs["spec"])
    log.info("Best trial: %d, %s=%.4f: %s", best.number, run.metric.name, best.value, spec.describe())
    with timed("selection"):
        shipped = plan_shipment(
            run.study, run.y, run.problem.folds, run.metric, run.deadline, seed=run.config.seed
        )
    log_shipment(shipped, run.metric)
    shipped_oof = oof_of(shipped, best)
    write_label_issues(
        None if shipped_oof is None else np.asarray(shipped_oof),
        run.y,
        run.classes.tolist(),
        run.ds.X,
        run.run_dir,
    )
    for curve in (run.curves or {}).get("curves", []):
        log.info("Learning curve of trial %d (%s): %s.", curve["trial"], curve["learner"], curve["sentence"])
    with timed("refit"):
        model_dir, refit_s, shipped = refit_or_fall_back(
            shipped,
            run.study,
            run.ds.X,
            run.y,
            run.ctx,
            run.run_dir / "model",
            bundle_meta(run, best, shipped),
            run.metric,
            run.deadline,
            run.config.budget.seconds,
        )
    ssl_curves = collect_curves(run.ctx.runtime.cache_dir, run.run_dir / "ssl")
    if ssl_curves:
        run.tracker.log_artifacts({"ssl": ssl_curves})
    counts = {s: sum(t.state == s for t in run.study.trials) for s in FINISHED}
    result = SearchResult(
        study_name=run.config.study_name,
        run_dir=run.run_dir,
        model_dir=model_dir,
        metric=run.metric.name,
        best_value=value_of(best),
        best_trial=best.number,
        best_spec=spec,
        n_complete=counts[FINISHED[0]],
        n_pruned=counts[FINISHED[1]],
        n_failed=counts[FINISHED[2]],
        seconds=run.deadline.elapsed(),
        stopped_by=run.stopped_by,
        profile=run.profile,
        tracking_uri=redact_url(run.config.tracking),
        parent_run_id=run.parent,
        shipped=shipped,
        curve_sentence=curve_sentence(run.curves, shipped.members),
    )
    write_summary(result, run.study, run.metric, run.config, refit_s, run.baseline, shipped)
    report_and_export(run, model_dir, shipped)
    record_time(run.run_dir, run.deadline.elapsed(), run.study)
    run.tracker.finish_search(
        final_metrics(run, result, shipped, refit_s),
        best_trial=best.number,
        status="KILLED" if run.stopped_by == "interrupted" else "FINISHED",
    )
    log.info(
        "Done in %.0fs: %d complete, %d pruned, %d failed trials. Model: %s",
        result.seconds,
        result.n_complete,
        result.n_pruned,
        result.n_failed,
        model_dir,
    )
    return result


def oof_of(shipped: ShipPlan, best: optuna.trial.FrozenTrial) -> np.ndarray | None:
    """The shipped model's out-of-fold probabilities (the blend's, for an ensemble)."""
    oof = shipped.selection.oof if shipped.selection is not None else best.user_attrs.get("oof")
    return None if oof is None else np.asarray(oof, dtype=float)


def bundle_meta(run: SearchRun, best: optuna.trial.FrozenTrial, shipped: ShipPlan) -> dict[str, Any]:
    """What the model folder says about itself (bundle.json)."""
    oof = oof_of(shipped, best)
    return {
        "modality": run.profile.modality,
        "classes": run.classes.tolist(),
        "schema": run.ds.schema,
        "metric": run.metric.name,
        **shipped.meta_update(),
        "cv_folds": len(run.problem.folds),
        "best_trial": best.number,
        "best_trial_cv": value_of(best),
        "fold_scores": best.user_attrs.get("fold_scores"),
        "study": run.config.study_name,
        "data": str(Path(run.config.data).resolve()),  # for `automl suggest`, when it is still there
        "label": run.config.label,
        "text_column": run.config.text_column,
        "fingerprint": run.problem.fingerprint,
        "profile": run.profile.to_dict(),
        "categories": training_categories(run.ds, run.profile),
        # For `automl suggest`: the pool's class mix is estimated from the model's confusion.
        "oof_confusion": None if oof is None else oof_confusion(run.y, oof).tolist(),
    }


def report_and_export(run: SearchRun, model_dir: Path, shipped: ShipPlan) -> None:
    """The report, the MLflow model and the registry: conveniences that never fail a search."""
    try:
        from automl.report import save_labels, write_report

        save_labels(run.run_dir, run.y, len(run.classes))
        with timed("report"):
            report = write_report(run.run_dir, run.study)
        with timed("tracking"):
            run.tracker.log_artifacts(
                {"": report, "labels": run.run_dir / ISSUES_FILE, "learning": run.run_dir / CURVE_FILE}
            )
    except Exception as e:
        log.warning("Could not write the search report: %s: %s", type(e).__name__, e)
    with timed("tracking"):
        logged = export_to_tracker(run.tracker, model_dir, run.run_dir)
        if run.config.register:
            register_shipped(run.config, run.parent if logged else None, shipped, run.problem)


def final_metrics(run: SearchRun, result: SearchResult, shipped: ShipPlan, refit_s: float) -> dict[str, Any]:
    """The parent run's metrics and tags at the end of the search."""
    name = run.metric.name
    return {
        f"best_{name}": result.best_value,
        "trials_complete": result.n_complete,
        "trials_pruned": result.n_pruned,
        "trials_failed": result.n_failed,
        "search_seconds": result.seconds,
        "refit_seconds": refit_s,
        f"baseline_{name}": run.baseline,
        f"shipped_{name}_estimate": shipped.estimate["mean"],
        f"shipped_{name}_estimate_std": shipped.estimate.get("std", 0.0),
        **calibration_metrics(shipped),
        **curve_metrics(run.curves, run.metric),
        "best_pipeline": result.best_spec.describe(),
        "shipped_pipeline": shipped.describe()[:5000],
        "selection_rule": shipped.rule,
        "stopped_by": run.stopped_by,
    }


def refit_or_fall_back(
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
            first_line(first_error, 300),
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
                    {**meta, **fallback.meta_update(), "oof_confusion": None},
                )
            return (*saved, fallback)
        except (Exception, DeadlineReached) as e:
            first_error = f"{type(e).__name__}: {e}"
    raise AutoMLError(
        f"No model could be refitted and saved ({first_line(first_error, 300)}). "
        "The study keeps every trial: re-run the same command with a larger --budget."
    )


def training_categories(ds: Dataset, profile: DataProfile, cap: int = 1000) -> dict[str, list[str]]:
    """The values each categorical column took in training, so predict can warn on new ones."""
    if not isinstance(ds.X, pd.DataFrame):
        return {}
    return {
        c: sorted(ds.X[c].dropna().astype(str).unique().tolist())[:cap]
        for c in profile.categorical_columns
        if c in ds.X.columns
    }


def log_shipment(shipped: ShipPlan, metric: MetricInfo) -> None:
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
            ", ".join(
                f"{r.rule} {r.mean:.4f}" + (f" (wins {r.wins:.0%})" if r.wins is not None else "")
                for r in shipped.selection.rules
            ),
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


def curve_metrics(curves: dict[str, Any] | None, metric: MetricInfo) -> dict[str, float]:
    """The best pipeline's learning-curve forecast, for the MLflow parent run."""
    if not curves:
        return {}
    curve = curves["curves"][0]
    out = {"forecast_trial": float(curve["trial"])}  # whose curve: not always the shipped model's
    for factor, (point, low, high) in curve["forecasts"].items():
        out[f"forecast_{metric.name}_{factor}x_labels"] = point
        out[f"forecast_{metric.name}_{factor}x_labels_low"] = low
        out[f"forecast_{metric.name}_{factor}x_labels_high"] = high
    return out


def calibration_metrics(shipped: ShipPlan) -> dict[str, float]:
    cal = shipped.calibration
    if cal is None:
        return {}
    return {
        "oof_log_loss_before_calibration": cal.log_loss_before,
        "oof_log_loss": cal.log_loss_after,
        "oof_ece_before_calibration": cal.ece_before,
        "oof_ece": cal.ece_after,
    }


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    try:
        return study.best_trial
    except ValueError:
        failures = [
            t.user_attrs.get("error", "") for t in study.trials if t.state == optuna.trial.TrialState.FAIL
        ]
        first = first_line(failures[0]) if failures else "no trial finished in time"
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


def write_summary(
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


def record_time(run_dir: Path, wall: float, study: optuna.Study) -> None:
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


def export_to_tracker(tracker: Tracker, model_dir: Path, run_dir: Path) -> bool:
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


def register_shipped(config: SearchConfig, parent: str | None, shipped: ShipPlan, problem: Problem) -> None:
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
            first_line(e, 300),
        )
