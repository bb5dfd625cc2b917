"""Scoring metrics, one registry. Every metric scores class probabilities against int labels.

Saved models record their metric by name; its definition lives here, below the search."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn import metrics as skm

from automl.data.profile import IMBALANCED, DataProfile
from automl.registry import Registry


@dataclass(frozen=True)
class MetricInfo:
    name: str
    direction: Literal["maximize", "minimize"]
    score: Callable[[np.ndarray, np.ndarray], float]  # (y int labels, proba [n, K]) -> float

    @property
    def sign(self) -> int:
        """+1 when higher is better, -1 when lower is: ``sign * score`` is always maximised."""
        return 1 if self.direction == "maximize" else -1

    def better(self, a: float, b: float) -> bool:
        return self.sign * a > self.sign * b


METRICS: Registry[MetricInfo] = Registry("metric")


def _register(
    name: str, direction: Literal["maximize", "minimize"], fn: Callable[[np.ndarray, np.ndarray], float]
) -> None:
    METRICS.register(name, MetricInfo(name, direction, fn))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    if p.shape[1] == 2:
        return skm.roc_auc_score(y, p[:, 1])
    return skm.roc_auc_score(y, p, multi_class="ovr", labels=np.arange(p.shape[1]))


_register("accuracy", "maximize", lambda y, p: skm.accuracy_score(y, p.argmax(1)))
_register("balanced_accuracy", "maximize", lambda y, p: skm.balanced_accuracy_score(y, p.argmax(1)))
_register(
    "f1_macro",
    "maximize",
    lambda y, p: skm.f1_score(y, p.argmax(1), average="macro", labels=np.arange(p.shape[1]), zero_division=0),
)


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    # Clipped and renormalised: stored out-of-fold probabilities are rounded, and a model
    # that is certain and wrong should cost a lot, not infinity.
    p = np.clip(p, 1e-7, 1)
    return skm.log_loss(y, p / p.sum(1, keepdims=True), labels=np.arange(p.shape[1]))


_register("log_loss", "minimize", _log_loss)
_register("roc_auc", "maximize", _auc)


def default_metric(profile: DataProfile) -> str:
    # Accuracy rewards predicting the majority class when classes are skewed; past 3:1 the
    # balanced version is the honest default.
    return "balanced_accuracy" if profile.imbalance > IMBALANCED else "accuracy"


def score_many(metric: MetricInfo, y: np.ndarray, probas: np.ndarray) -> np.ndarray:
    """``metric`` of each of T probability matrices (``probas`` [T, n, K]) against ``y`` at
    once: model selection scores thousands of bootstrap resamples, and scikit-learn's checks
    cost a millisecond a call. Same values as ``metric.score`` (tested)."""
    y = np.asarray(y, dtype=int)
    probas = np.asarray(probas, dtype=float)
    k = probas.shape[2]
    if metric.name == "log_loss":
        p = np.clip(probas, 1e-7, 1)
        p = p / p.sum(2, keepdims=True)
        return -np.log(p[:, np.arange(len(y)), y]).mean(1)
    pred = probas.argmax(2)
    if metric.name == "accuracy":
        return (pred == y).mean(1)
    truth = np.eye(k, dtype=bool)[y]  # [n, K]
    hit = np.eye(k, dtype=bool)[pred]  # [T, n, K]
    tp = (hit & truth).sum(1).astype(float)  # [T, K]
    support = truth.sum(0).astype(float)  # [K]
    if metric.name == "balanced_accuracy":
        present = support > 0
        return (tp[:, present] / support[present]).mean(1)
    if metric.name == "f1_macro":
        predicted = hit.sum(1).astype(float)
        denom = predicted + support
        f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
        return f1.mean(1)
    return np.array([metric.score(y, p) for p in probas])
