"""After a search: would more labels help, and which labels look wrong?

- The learning curve re-scores the best pipeline (and the best of another learner, when
  there is time) on the study's first-repeat folds with 25, 50 and 75% of each training fold's
  labels per class; with the full folds the trial already ran it gives four points, fitted and
  forecast at 2x and 4x the labels (``automl.labelling.curve``).
- Label issues come from out-of-fold probabilities, where no row was predicted by a model that
  trained on it (``automl.labelling.issues``). They are advice, written to
  ``label_issues.csv``; the labels are never changed.

Both run inside the budget: the curve has a share of it set aside up front, is measured on
as many of the first repeat's folds as fit in it (at least two), and is skipped with a note
when two would not.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from automl.components.base import BuildContext
from automl.data.dataset import take
from automl.data.splits import FoldPlan
from automl.exceptions import describe
from automl.labelling.curve import LearningCurve, distinct_sizes, fit_learning_curve, subsample_per_class
from automl.labelling.issues import find_label_issues, to_frame
from automl.logger import log
from automl.pipeline.build import build_pipeline
from automl.pipeline.metrics import MetricInfo
from automl.pipeline.proba import aligned_proba
from automl.search.budget import DeadlineReached, hard_deadline
from automl.search.study import best_first, refit_fold_seconds
from automl.space.spec import PipelineSpec

FRACTIONS = (0.25, 0.5, 0.75)
MIN_CURVE_FOLDS = 2  # the fewest folds that give the forecast a range (a bootstrap over folds)
# The share of the budget set aside for the curve. A probe's refits on fractions of the folds
# cost about 1.5 of its trials (0.25 + 0.5 + 0.75 of the data); fine-tuners cost minutes.
CURVE_SHARE = 0.08
CURVE_FILE = "learning_curve.json"
ISSUES_FILE = "label_issues.csv"
BOUNDED = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc")


def measure_curves(
    study: optuna.Study,
    X: Any,
    y: np.ndarray,
    plan: FoldPlan,
    metric: MetricInfo,
    ctx: BuildContext,
    seconds: float,
    run_dir: Path,
) -> dict[str, Any] | None:
    """Curves of the best trial and of the best trial of another learner, within ``seconds``;
    written to ``run_dir/learning_curve.json``. None (with a note) when none fits in time."""
    ranked = best_first(study.get_trials(deepcopy=False), metric.direction == "maximize")
    if not ranked:
        return None
    picks = [ranked[0]]
    other = next((t for t in ranked[1:] if _learner(t) != _learner(ranked[0])), None)
    if other is not None:
        picks.append(other)
    first = plan.first_repeat()
    out: dict[str, Any] = {"fractions": [*FRACTIONS, 1.0], "curves": []}
    end = seconds
    for trial in picks:
        # A time-stopped trial's folds ran part of its schedule; the curve's refits run all of it.
        per_fold = 1.5 * refit_fold_seconds(trial)
        # As many folds as the time allows: an expensive winner's curve on 2-4 folds is worth
        # more to its user than a cheap runner-up's on 5 (the bootstrap range widens with fewer).
        folds = min(first.n_splits, int(end // per_fold) if per_fold > 0 else first.n_splits)
        if folds < MIN_CURVE_FOLDS:
            why = (
                f"re-fitting trial {trial.number} on 25-75% of {MIN_CURVE_FOLDS} of its folds would take "
                f"~{MIN_CURVE_FOLDS * per_fold:.0f}s, {max(end, 0.0):.0f}s are left of the time set aside"
            )
            out.setdefault("skipped", []).append(why)
            log.info("Learning curve skipped: %s.", why)
            continue
        t0 = time.monotonic()
        try:
            curve, sizes, scores = _measure(trial, X, y, first, metric, ctx, folds, end)
        except (DeadlineReached, Exception) as e:
            # The first line: a library's error may carry its native stack trace after it.
            why = describe(e)
            out.setdefault("skipped", []).append(f"trial {trial.number}: {why}")
            log.info("Learning curve of trial %d not measured: %s", trial.number, why)
            continue
        finally:
            end -= time.monotonic() - t0
        folds = scores.shape[1]
        out["curves"].append(
            {
                "trial": trial.number,
                "pipeline": PipelineSpec.from_dict(trial.user_attrs["spec"]).describe(),
                "learner": _learner(trial),
                "folds": folds,
                "sizes": sizes,
                "scores": [[None if np.isnan(v) else float(v) for v in row] for row in scores],
                "means": list(curve.means),
                "stds": list(curve.stds),
                "model": curve.model,
                "current": curve.current,
                "forecasts": {str(k): list(v) for k, v in curve.forecasts.items()},
                "verdict": curve.verdict,
                "sentence": curve.sentence(sizes[-1], metric.name)
                + (f" (on {folds} of {first.n_splits} folds)" if folds < first.n_splits else ""),
            }
        )
    if not out["curves"]:
        (run_dir / CURVE_FILE).write_text(json.dumps(out, indent=2))
        return None
    (run_dir / CURVE_FILE).write_text(json.dumps(out, indent=2))
    return out


def curve_sentence(curves: dict[str, Any] | None, shipped: tuple[int, ...]) -> str | None:
    """What more labels would buy, for the CLI's last lines: the curve of a shipped trial when
    one was measured, else the first curve, said to be of another pipeline (and why)."""
    if not curves or not curves.get("curves"):
        return None
    own = [c for c in curves["curves"] if c["trial"] in shipped]
    if own:
        c = own[0]
        whose = "the shipped model" if len(shipped) == 1 else f"trial {c['trial']} of the shipped ensemble"
        return f"learning curve of {whose}: {c['sentence']}"
    c = curves["curves"][0]
    why = next(
        (w for w in curves.get("skipped", []) if any(re.search(rf"\btrial {t}\b", w) for t in shipped)), None
    )
    return (
        f"learning curve of trial {c['trial']} ({c['learner']}), not of the shipped model"
        + (f" ({why})" if why else "")
        + f": {c['sentence']}"
    )


def _measure(
    trial: optuna.trial.FrozenTrial,
    X: Any,
    y: np.ndarray,
    plan: FoldPlan,
    metric: MetricInfo,
    ctx: BuildContext,
    folds: int,
    seconds: float,
) -> tuple[LearningCurve, list[float], np.ndarray]:
    """The curve on the first ``folds`` folds of ``plan``, within ``seconds``; every size is
    scored on the same folds, so the curve's shape is not one fold's difficulty against
    another's. When the time runs out after ``MIN_CURVE_FOLDS`` folds have finished, the curve
    is made of those: the fold cost was estimated from the trial's full-size fits, and a
    learner whose time does not shrink with the data (a fixed number of trees) runs over it."""
    spec = PipelineSpec.from_dict(trial.user_attrs["spec"])
    k = int(y.max()) + 1
    scores = np.full((len(FRACTIONS) + 1, folds), np.nan)
    # Labels per class each size actually trained on. With a few labels per class the
    # fractions round, and every class keeps two (``subsample_per_class``): 25% and 50% of a
    # fold with 3 per class are both 2, and a curve drawn at the nominal 0.75 and 1.5 reads a
    # flat start where there is none, and forecasts flat.
    counts = np.full((len(FRACTIONS) + 1, folds), np.nan)
    full = trial.user_attrs.get("fold_scores") or []
    scores[-1, : min(len(full), folds)] = full[:folds]
    done = 0  # folds whose every size is scored
    fold_ctx = replace(ctx, runtime=replace(ctx.runtime, time_limit=None))
    try:
        with hard_deadline(seconds):
            for i in range(folds):
                train, test = plan.split(i)
                previous: np.ndarray | None = None
                for j, fraction in enumerate(FRACTIONS):
                    sub = train[subsample_per_class(y[train], fraction, seed=i)]
                    counts[j, i] = len(sub) / k
                    if previous is not None and len(sub) == len(previous):  # nested: the same rows
                        scores[j, i] = scores[j - 1, i]
                        continue
                    model = build_pipeline(spec, fold_ctx).fit(take(X, sub), y[sub])
                    scores[j, i] = metric.score(y[test], aligned_proba(model, take(X, test), k))
                    previous = sub
                counts[-1, i] = len(train) / k
                done += 1
    except DeadlineReached as e:
        if done < MIN_CURVE_FOLDS:
            raise
        log.info(
            "Learning curve of trial %d: %d of %d folds finished in the time set aside (%s); the curve uses them.",
            trial.number,
            done,
            folds,
            e,
        )
    scores, counts = scores[:, :done], counts[:, :done]
    means = counts.mean(axis=1)
    rows = distinct_sizes(means)
    sizes = [float(means[j]) for j in rows]
    scores = scores[rows]
    if len(sizes) < 2:
        raise ValueError(f"every size of the curve trains on the same {sizes[0]:.1f} labels per class")
    bounds = (0.0, 1.0) if metric.name in BOUNDED else None
    curve = fit_learning_curve(np.array(sizes), scores, metric.direction == "maximize", bounds)
    return curve, sizes, scores


def _learner(trial: optuna.trial.FrozenTrial) -> str:
    return str(trial.user_attrs.get("spec", {}).get("learner", {}).get("name"))


def write_label_issues(
    oof: np.ndarray | None, y: np.ndarray, classes: list, items: Any, run_dir: Path
) -> pd.DataFrame | None:
    """Likely wrong labels from the shipped model's out-of-fold probabilities, to
    ``run_dir/label_issues.csv`` (with ``item``: the row number, the text, or the file)."""
    if oof is None:
        return None
    issues = find_label_issues(y, oof, [str(c) for c in classes])
    frame = to_frame(issues, _describe_items(items))
    frame.to_csv(run_dir / ISSUES_FILE, index=False)
    if len(frame):
        log.info(
            "%d labelled item(s) look mislabelled (advice only, nothing was changed): %s",
            len(frame),
            run_dir / ISSUES_FILE,
        )
    return frame


def _describe_items(items: Any) -> list[object]:
    if isinstance(items, pd.DataFrame):  # a table: its place among the labelled rows
        return [f"labelled row {i + 1}" for i in range(len(items))]
    return [str(x) for x in items]
