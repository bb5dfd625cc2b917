"""Scoring metrics, one registry. Every metric scores class probabilities against int labels.

Saved models record their metric by name; its definition lives here, below the search."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
from sklearn import metrics as skm

from automl.data.profile import DataProfile
from automl.registry import Registry


@dataclass(frozen=True)
class MetricInfo:
    name: str
    direction: Literal["maximize", "minimize"]
    summary: str
    score: Callable[[np.ndarray, np.ndarray], float]  # (y int labels, proba [n, K]) -> float

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


METRICS: Registry[MetricInfo] = Registry("metric")


def _register(name, direction, summary, fn) -> None:
    METRICS.register(name, MetricInfo(name, direction, summary, fn))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    if p.shape[1] == 2:
        return skm.roc_auc_score(y, p[:, 1])
    return skm.roc_auc_score(y, p, multi_class="ovr", labels=np.arange(p.shape[1]))


_register("accuracy", "maximize", "fraction of correct predictions",
          lambda y, p: skm.accuracy_score(y, p.argmax(1)))
_register("balanced_accuracy", "maximize", "mean recall over classes (robust to imbalance)",
          lambda y, p: skm.balanced_accuracy_score(y, p.argmax(1)))
_register("f1_macro", "maximize", "unweighted mean F1 over classes",
          lambda y, p: skm.f1_score(y, p.argmax(1), average="macro",
                                    labels=np.arange(p.shape[1]), zero_division=0))
def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    # Clipped and renormalised: stored out-of-fold probabilities are rounded, and a model
    # that is certain and wrong should cost a lot, not infinity.
    p = np.clip(p, 1e-7, 1)
    return skm.log_loss(y, p / p.sum(1, keepdims=True), labels=np.arange(p.shape[1]))


_register("log_loss", "minimize", "cross-entropy of the predicted probabilities", _log_loss)
_register("roc_auc", "maximize", "area under the ROC curve (one-vs-rest when multiclass)", _auc)


def default_metric(profile: DataProfile) -> str:
    # Accuracy rewards predicting the majority class when classes are skewed; past 3:1 the
    # balanced version is the honest default.
    return "balanced_accuracy" if profile.imbalance > 3 else "accuracy"
