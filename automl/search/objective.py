"""The Optuna objective: sample a spec, cross-validate it, report each fold, record failures."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna

from automl.components.base import EXPENSIVE_COST, EXPENSIVE_TRIAL_SHARE, LEARNERS, BuildContext
from automl.components.runtime import Unaffordable
from automl.data.splits import FoldPlan
from automl.exceptions import first_line
from automl.logger import log
from automl.pipeline.calibration import expected_calibration_error, log_loss
from automl.pipeline.metrics import MetricInfo
from automl.search.budget import HARD_STOP_GRACE, Deadline, DeadlineReached, hard_deadline
from automl.search.evaluate import BudgetExhausted, FoldError, cross_validate
from automl.search.study import best_first, value_of
from automl.space.preset import SearchSpace
from automl.space.sample import suggest_pipeline
from automl.space.spec import PipelineSpec
from automl.tracking.base import TrialRecord

# Repeated CV is bought where it is cheap. Learners that cost minutes per fit (fine-tuners,
# SetFit; EXPENSIVE_COST) are scored on the first repeat only, the same unbiased estimate with
# more variance, and within EXPENSIVE_TRIAL_SHARE of the budget: on sst2-few a 5-minute
# search otherwise gave one SetFit trial 240 of its 256 s, and 7 trials in all.
MIN_FOLD_SECONDS = 1.0

# Trials that read the unlabelled pool (pseudo-labels, SSL-adapted weights) carry one-off costs
# a short search cannot spread over many trials (embedding the pool with each backbone or
# encoder, adapting one): 5-minute searches with a pool finished 9 trials on sst2-few against
# 34 without it, 8 on cifar10-few against 12, and a 10-minute cifar10-few search with its pool
# shipped a labelled-only ensemble 4.6 points below the search without the pool, which had run
# twice its trials. The selection ships a pool pipeline only when it beats the best
# labelled-only one, so that side must not be starved: pool trials may hold at most POOL_SHARE
# of the time trials have run (all workers, finished and running). Past it a trial is drawn
# from the labelled-only part of the space. Half is the even split between the two scopes the
# selection compares, not a fitted value.
POOL_SHARE = 0.5

# Out-of-fold probabilities of every trial are stored for ensembling; past 20k values
# (2,000 rows x 10 classes) they would bloat the study, and the data is no longer small.
MAX_OOF_VALUES = 20_000


@dataclass
class Objective:
    space: SearchSpace
    X: Any
    y: np.ndarray
    folds: FoldPlan
    metric: MetricInfo
    ctx: BuildContext
    deadline: Deadline
    _pool_paused: bool = field(default=False, init=False)

    def __call__(self, trial: optuna.Trial) -> float:
        has_pool = self.ctx.runtime.unlabelled is not None
        # One read of the study serves the pool's share and the incumbent: with out-of-fold
        # predictions stored on every trial, each read costs more as the study grows.
        others = trial.study.get_trials(deepcopy=False)
        pool = has_pool and not _pool_share_spent(trial, others)
        if has_pool and not pool and not self._pool_paused:
            self._pool_paused = True  # said once: the two then take turns
            log.info(
                "Trials reading the unlabelled pool have taken more than %.0f%% of the trial time; "
                "until the others catch up, trials are drawn without it.",
                100 * POOL_SHARE,
            )
        spec = suggest_pipeline(trial, self.space, pool=pool)
        trial.set_user_attr("spec", spec.to_dict())
        folds = self.folds
        expensive = LEARNERS.get(spec.learner.name).cost >= EXPENSIVE_COST
        if expensive:
            folds = folds.first_repeat()
        trial.set_user_attr("n_folds", len(folds))
        scores: list[float] = []
        best = _incumbent(others, self.metric)
        incumbent = best if expensive else None
        time_left = self.deadline.search_left
        if expensive:
            cap_at = self.deadline.elapsed() + EXPENSIVE_TRIAL_SHARE * self.deadline.seconds

            def time_left() -> float:
                # Past its share the trial still finishes its folds, each as briefly as its
                # learner can (the training loops stop at their time limit); only the search's
                # own end stops it outright.
                left = self.deadline.search_left()
                cap_left = max(cap_at - self.deadline.elapsed(), MIN_FOLD_SECONDS)
                return min(left, cap_left) if left > 0 else 0.0

        def on_fold(i: int, score: float, running: float) -> None:
            scores.append(score)
            trial.set_user_attr("fold_scores", scores)
            trial.report(running, i)
            if trial.should_prune():
                raise optuna.TrialPruned(f"running mean {running:.4f} after fold {i + 1}")
            if incumbent is not None and _cannot_catch_up(scores, incumbent, self.metric, len(folds)):
                raise optuna.TrialPruned(
                    f"running mean {running:.4f} after fold {i + 1} cannot plausibly reach the best "
                    f"trial's {incumbent[0]:.4f}; the remaining folds would cost minutes"
                )

        # The search's end is this trial's hard end: whatever step overruns is stopped. A cheap
        # learner has no time limit of its own to stop at gracefully, and one can still run
        # away (elastic-net saga on ill-scaled features with pseudo-labelled pool rows took 202
        # s of a 255 s fsdd-few search): once some trial has finished, so the search has an
        # answer, it is stopped at the expensive learners' share of the budget.
        hard_left = self.deadline.search_left()
        capped = not expensive and best is not None
        if capped:
            hard_left = min(hard_left, EXPENSIVE_TRIAL_SHARE * self.deadline.seconds)
        try:
            with hard_deadline(hard_left + HARD_STOP_GRACE):
                result = cross_validate(
                    spec,
                    self.X,
                    self.y,
                    folds,
                    self.metric,
                    self.ctx,
                    time_left=time_left,
                    on_fold=on_fold,
                )
        except DeadlineReached as e:
            if capped and self.deadline.search_left() > HARD_STOP_GRACE:
                reason = (
                    f"one trial's share of the budget spent ({EXPENSIVE_TRIAL_SHARE:.0%}, "
                    f"{EXPENSIVE_TRIAL_SHARE * self.deadline.seconds:.0f}s)"
                )
            else:
                reason = f"budget spent: {e}"
            trial.set_user_attr("stopped", reason)
            raise optuna.TrialPruned(reason) from None
        except BudgetExhausted as e:
            trial.set_user_attr("stopped", f"budget spent: {e}")
            raise optuna.TrialPruned(f"budget spent: {e}") from None
        except Unaffordable as e:
            trial.set_user_attr("stopped", f"not affordable in this budget: {e}")
            raise optuna.TrialPruned(f"not affordable in this budget: {e}") from None
        except FoldError as e:
            trial.set_user_attr("error", f"{e}\n{e.trace}")
            raise
        except optuna.TrialPruned:
            raise
        except Exception as e:  # recorded on the trial: Optuna keeps no reason for a failure
            trial.set_user_attr("error", f"{type(e).__name__}: {e}")
            raise
        if result.time_stopped:
            # Its folds trained less than the refit will: fine for ranking it, but its
            # out-of-fold predictions do not describe the refitted model an ensemble would hold.
            trial.set_user_attr("time_stopped", True)
            trial.set_user_attr("full_fit_seconds", result.full_fit_seconds)
        trial.set_user_attr("fit_seconds", result.fit_seconds)
        if result.oof is not None:
            # How much its probabilities can be trusted, whatever the metric: in MLflow too.
            first = np.concatenate(self.folds.test_folds[: self.folds.n_splits])
            y, oof = self.y[first], result.oof[first]
            trial.set_user_attr("oof_log_loss", log_loss(y, oof))
            trial.set_user_attr("oof_ece", expected_calibration_error(y, oof))
        if result.oof is not None and result.oof.size <= MAX_OOF_VALUES:
            # Kept in the study (shared by all workers) to choose what ships, and for reports.
            trial.set_user_attr("oof", np.round(result.oof, 4).tolist())
            if result.oof_second is not None:
                trial.set_user_attr("oof_second", np.round(result.oof_second, 4).tolist())
        return result.mean


# An expensive trial (SetFit, a fine-tune: minutes a fold on a CPU) is stopped after two folds
# when even an optimistic reading of them, two standard errors up, stays below the best trial:
# successive halving over folds, so the budget goes to trials that can still win.
MIN_FOLDS_TO_JUDGE = 2
OPTIMISM = 2.0


def _pool_share_spent(trial: optuna.Trial, trials: list[optuna.trial.FrozenTrial]) -> bool:
    """Whether trials reading the pool have held more than POOL_SHARE of the study's trial
    time. An enqueued trial (a start point) is run as given."""
    now = datetime.datetime.now()
    pool = total = 0.0
    for t in trials:
        if t.number == trial.number and t.system_attrs.get("fixed_params"):
            return False
        spec = t.user_attrs.get("spec")
        if t.datetime_start is None or spec is None:
            continue
        seconds = ((t.datetime_complete or now) - t.datetime_start).total_seconds()
        total += seconds
        if PipelineSpec.from_dict(spec).uses_pool():
            pool += seconds
    return total > 0 and pool > POOL_SHARE * total


def _incumbent(trials: list[optuna.trial.FrozenTrial], metric: MetricInfo) -> tuple[float, float] | None:
    """(CV mean, fold std) of the best complete trial, or None."""
    ranked = best_first(trials, metric.direction == "maximize")
    if not ranked:
        return None
    scores = ranked[0].user_attrs.get("fold_scores") or [value_of(ranked[0])]
    return value_of(ranked[0]), float(np.std(scores))


def _cannot_catch_up(
    scores: list[float], incumbent: tuple[float, float], metric: MetricInfo, n_folds: int
) -> bool:
    if len(scores) < MIN_FOLDS_TO_JUDGE or len(scores) >= n_folds:
        return False
    spread = max(float(np.std(scores)), incumbent[1])
    optimistic = np.mean(scores) + metric.sign * OPTIMISM * spread / np.sqrt(len(scores))
    return not metric.better(optimistic, incumbent[0]) and optimistic != incumbent[0]


def trial_record(trial: optuna.trial.FrozenTrial) -> TrialRecord:
    spec = trial.user_attrs.get("spec")
    params = PipelineSpec.from_dict(spec).flat_params() if spec else dict(trial.params)
    start = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    end = trial.datetime_complete.timestamp() if trial.datetime_complete else start
    extra: dict[str, float] = {}
    for key in ("fit_seconds", "oof_log_loss", "oof_ece"):
        if key in trial.user_attrs:
            extra[key] = float(trial.user_attrs[key])
    error = trial.user_attrs.get("error") or trial.user_attrs.get("stopped")
    if error is None and trial.state == optuna.trial.TrialState.FAIL:
        error = trial.system_attrs.get("fail_reason", "failed (see the log)")
    return TrialRecord(
        number=trial.number,
        state=trial.state.name,
        params=params,
        fold_scores=tuple(trial.user_attrs.get("fold_scores", ())),
        value=trial.value,
        start_ms=int(start * 1000),
        end_ms=int(end * 1000),
        error=error,
        extra_metrics=extra,
    )


def describe_trial(rec: TrialRecord, metric: str) -> str:
    spec_line = ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.params.items()
    )
    score = (
        f"{metric}={rec.value:.4f}±{rec.cv_std:.3f}"
        if rec.value is not None
        else (f"after {len(rec.fold_scores)} fold(s)" if rec.fold_scores else "")
    )
    took = (rec.end_ms - rec.start_ms) / 1000
    why = f" ({first_line(rec.error)})" if rec.error and rec.state != "COMPLETE" else ""
    return f"trial {rec.number} {rec.state.lower()} {score} in {took:.1f}s: {spec_line}{why}"


def log_trial(rec: TrialRecord, metric: str) -> None:
    (log.warning if rec.state == "FAIL" else log.info)(describe_trial(rec, metric))
