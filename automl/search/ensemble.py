"""Ensemble selection (Caruana et al., 2004) over the trials' out-of-fold predictions.

On small data the single CV-best trial is partly luck: its score is the maximum of many noisy
estimates. A weighted average of several good, different pipelines is steadier. Members are
chosen greedily, with replacement, to improve the metric on out-of-fold predictions; the
ensemble is used only if it beats the single best on those predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import optuna

from automl.pipeline.metrics import METRICS, MetricInfo
from automl.search.study import best_first

CANDIDATES = 15  # the best trials considered
ROUNDS = 25  # greedy additions (with replacement): weights in steps of 1/25


@dataclass(frozen=True)
class EnsemblePlan:
    members: tuple[int, ...]  # trial numbers
    weights: tuple[float, ...]
    oof_score: float  # the ensemble's score on out-of-fold predictions (optimistic)
    best_single_oof: float


def select_ensemble(
    trials: list[optuna.trial.FrozenTrial], y: np.ndarray, metric: MetricInfo
) -> EnsemblePlan | None:
    usable = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and "oof" in t.user_attrs]
    if len(usable) < 2:
        return None
    usable = best_first(usable, metric.direction == "maximize")[:CANDIDATES]
    preds = [np.asarray(t.user_attrs["oof"]) for t in usable]
    keys = [_key(metric, y, p) for p in preds]
    best = max(range(len(preds)), key=keys.__getitem__)
    counts = np.zeros(len(usable))
    counts[best] = 1
    total = preds[best].copy()
    chosen, current = counts.copy(), keys[best]
    for _ in range(ROUNDS - 1):
        cand = [_key(metric, y, (total + p) / (counts.sum() + 1)) for p in preds]
        j = max(range(len(preds)), key=cand.__getitem__)
        counts[j] += 1
        total += preds[j]
        if cand[j] > current:  # keep the best ensemble seen, as later additions can overshoot
            chosen, current = counts.copy(), cand[j]
    if not current > keys[best]:
        return None
    counts = chosen
    keep = np.flatnonzero(counts)
    sign = 1 if metric.direction == "maximize" else -1
    return EnsemblePlan(
        tuple(usable[i].number for i in keep),
        tuple(float(counts[i] / counts.sum()) for i in keep),
        sign * current[0],
        sign * keys[best][0],
    )


def _key(metric: MetricInfo, y: np.ndarray, proba: np.ndarray) -> tuple[float, float]:
    """Higher is better: the metric first, then (for ties, common with accuracy on small
    data) the log-loss, which rewards the better-calibrated average."""
    sign = 1 if metric.direction == "maximize" else -1
    return (round(sign * metric.score(y, proba), 10), -METRICS.get("log_loss").score(y, proba))
