"""Cross-validation of one spec on the study's fixed folds, reporting after every fold."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from automl.components.base import BuildContext
from automl.components.runtime import Unaffordable
from automl.data.dataset import take
from automl.data.splits import FoldPlan, fold_std
from automl.pipeline.build import build_pipeline, schedule_share, time_stopped
from automl.pipeline.metrics import MetricInfo
from automl.pipeline.proba import aligned_proba
from automl.space.spec import PipelineSpec
from automl.timing import timed


class BudgetExhausted(Exception):
    """The search deadline passed before the trial finished its folds."""


@dataclass(frozen=True)
class CVResult:
    scores: tuple[float, ...]
    fit_seconds: float  # mean seconds to fit one fold
    # Out-of-fold class probabilities from the first repeat: one partition of the rows that
    # every trial is scored on (expensive learners run no other), so trials compare on it.
    oof: np.ndarray | None = None
    time_stopped: bool = False  # a fold's learner was stopped by its time limit
    # Mean seconds one fold would take to run its whole planned training: ``fit_seconds``
    # scaled up by the share of the schedule the time-stopped folds ran.
    full_fit_seconds: float = 0.0
    # Out-of-fold probabilities from the second repeat, when the trial ran all of it: another
    # partition, on which the selection scores what it chose on the first (selection.py).
    oof_second: np.ndarray | None = None

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        return fold_std(self.scores) or 0.0


def cross_validate(
    spec: PipelineSpec,
    X,
    y: np.ndarray,
    plan: FoldPlan,
    metric: MetricInfo,
    ctx: BuildContext,
    time_left: Callable[[], float] = lambda: float("inf"),
    on_fold: Callable[[int, float, float], None] | None = None,
) -> CVResult:
    """Score ``spec`` on each fold. ``on_fold(i, score, running_mean)`` may raise to prune.

    A fold that raises fails the trial with a summary; the caller records it as failed.
    """
    n_classes = int(y.max()) + 1
    scores: list[float] = []
    fit_times: list[float] = []
    full_times: list[float] = []
    stopped = False
    oof = np.zeros((len(y), n_classes))
    second = np.zeros((len(y), n_classes))
    for i in range(len(plan)):
        left = time_left()
        if left <= 0:
            raise BudgetExhausted(f"budget spent after {i} of {len(plan)} folds")
        train, test = plan.split(i)
        # Spread what is left over the remaining folds, so one slow fit cannot eat the budget.
        fold_ctx = replace(
            ctx, runtime=replace(ctx.runtime, time_limit=left / (len(plan) - i), search_left=left)
        )
        t0 = time.perf_counter()
        try:
            with timed("fit"):
                model = build_pipeline(spec, fold_ctx).fit(take(X, train), y[train])
            fit_times.append(time.perf_counter() - t0)
            stopped = stopped or time_stopped(model)
            # A schedule cut to a sliver says little about its pace: project from at least 5%.
            full_times.append(fit_times[-1] / max(schedule_share(model), 0.05))
            with timed("predict"):
                proba = aligned_proba(model, take(X, test), n_classes)
                score = metric.score(y[test], proba)
        except Unaffordable:
            raise  # a skip, not a failure: the caller records why
        except Exception as e:
            raise FoldError(i, len(plan), e) from e
        scores.append(float(score))
        if i < plan.n_splits:
            oof[test] = proba
        elif i < 2 * plan.n_splits:
            second[test] = proba
        if on_fold is not None:
            on_fold(i, float(score), float(np.mean(scores)))
    return CVResult(
        tuple(scores),
        float(np.mean(fit_times)),
        oof,
        stopped,
        float(np.mean(full_times)),
        second if len(scores) >= 2 * plan.n_splits else None,
    )


class FoldError(Exception):
    def __init__(self, fold: int, n_folds: int, error: Exception) -> None:
        self.fold, self.error = fold, error
        self.trace = "".join(traceback.format_exception(error))[-4000:]
        super().__init__(f"fold {fold + 1}/{n_folds} failed: {type(error).__name__}: {error}")
