"""Probabilities that mean what they say: calibration learned on out-of-fold predictions.

A model fitted on a few hundred rows is often over- or under-confident (an XGBoost ensemble
on wine said 0.75 for classes it got right 99% of the time). The search fits a calibration
map on the shipped model's out-of-fold probabilities, where every row was predicted by a
model that did not train on it, and keeps it only when cross-validation over those rows says
it lowers the log loss. Temperature scaling (one parameter, never changes the predicted
class) suits a few dozen rows; isotonic regression per class needs hundreds to beat it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedKFold

from automl.components.runtime import Runtime, UsesRuntime, bind_runtime

EPS = 1e-7
ECE_BINS = 10


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    p = np.clip(proba, EPS, 1)
    p = p / p.sum(1, keepdims=True)
    return float(-np.log(p[np.arange(len(y)), y]).mean())


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |confidence - accuracy| over equal-width confidence bins, weighted by their rows."""
    conf, pred = proba.max(1), proba.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        here = which == b
        if here.any():
            total += here.mean() * abs(conf[here].mean() - (pred[here] == y[here]).mean())
    return float(total)


@dataclass(frozen=True)
class Temperature:
    """p -> softmax(log p / T): T > 1 softens an over-confident model, T < 1 sharpens."""

    temperature: float

    def __call__(self, proba: np.ndarray) -> np.ndarray:
        logits = np.log(np.clip(proba, EPS, 1)) / self.temperature
        logits -= logits.max(1, keepdims=True)
        out = np.exp(logits)
        return out / out.sum(1, keepdims=True)

    @classmethod
    def fit(cls, y: np.ndarray, proba: np.ndarray) -> Temperature:
        from scipy.optimize import minimize_scalar

        res = minimize_scalar(
            # T in [0.22, 20]: sharpening more than ~4.5x would rest on the handful of errors a few
            # dozen out-of-fold rows happen to hold, and wreck the log loss of the next one.
            lambda t: log_loss(y, cls(float(np.exp(t)))(proba)),
            bounds=(-1.5, 3.0),
            method="bounded",
        )
        return cls(float(np.exp(res.x)))


@dataclass(frozen=True)
class Isotonic:
    """One-vs-rest isotonic regression of each class's probability, renormalised."""

    maps: tuple  # fitted sklearn IsotonicRegression per class

    def __call__(self, proba: np.ndarray) -> np.ndarray:
        out = np.column_stack([m.predict(proba[:, j]) for j, m in enumerate(self.maps)])
        out = np.clip(out, EPS, 1)
        return out / out.sum(1, keepdims=True)

    @classmethod
    def fit(cls, y: np.ndarray, proba: np.ndarray) -> Isotonic:
        from sklearn.isotonic import IsotonicRegression

        return cls(
            tuple(
                IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(
                    proba[:, j], (y == j).astype(float)
                )
                for j in range(proba.shape[1])
            )
        )


METHODS: dict[str, type[Temperature] | type[Isotonic]] = {"temperature": Temperature, "isotonic": Isotonic}


@dataclass(frozen=True)
class CalibrationChoice:
    method: str  # "none", "temperature" or "isotonic"
    calibrator: Temperature | Isotonic | None
    cv_log_loss: dict[str, float]  # method -> log loss of held-out rows in CV
    log_loss_before: float
    log_loss_after: float
    ece_before: float
    ece_after: float

    def to_dict(self) -> dict:
        out = {
            "method": self.method,
            "cv_log_loss": {k: round(v, 4) for k, v in self.cv_log_loss.items()},
            "log_loss_before": round(self.log_loss_before, 4),
            "log_loss_after": round(self.log_loss_after, 4),
            "ece_before": round(self.ece_before, 4),
            "ece_after": round(self.ece_after, 4),
        }
        if isinstance(self.calibrator, Temperature):
            out["temperature"] = round(self.calibrator.temperature, 4)
        return out


def choose_calibration(
    y: np.ndarray, oof: np.ndarray, seed: int = 0, keeps_argmax: bool = False
) -> CalibrationChoice:
    """The calibration (or none) with the lowest log loss on held-out rows, in k-fold CV over
    the out-of-fold predictions; fitted on all of them. ``keeps_argmax`` allows only maps that
    never change the predicted class (the metric is about the class, not the probability)."""
    y = np.asarray(y, dtype=int)
    methods = ["temperature"] if keeps_argmax else list(METHODS)
    k = int(min(5, np.bincount(y).min()))
    held: dict[str, list[float]] = {"none": [], **{m: [] for m in methods}}
    if k >= 2:
        for train, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(oof, y):
            held["none"].append(log_loss(y[test], oof[test]))
            for m in methods:
                cal = METHODS[m].fit(y[train], oof[train])
                held[m].append(log_loss(y[test], cal(oof[test])))
    cv = {m: float(np.mean(v)) for m, v in held.items() if v}
    best = min(cv, key=lambda m: cv[m]) if cv else "none"
    calibrator = METHODS[best].fit(y, oof) if best != "none" else None
    after = calibrator(oof) if calibrator is not None else oof
    return CalibrationChoice(
        best,
        calibrator,
        cv,
        log_loss(y, oof),
        log_loss(y, after),
        expected_calibration_error(y, oof),
        expected_calibration_error(y, after),
    )


class CalibratedClassifier(UsesRuntime, ClassifierMixin, BaseEstimator):
    """``base`` with its probabilities passed through a calibration map learned out of fold.
    ``fit`` refits the base only: the map was chosen on predictions the base did not train on."""

    def __init__(self, base=None, calibrator=None):
        self.base = base
        self.calibrator = calibrator

    def set_runtime(self, runtime: Runtime) -> CalibratedClassifier:
        super().set_runtime(runtime)
        bind_runtime(self.base_ if hasattr(self, "base_") else self.base, runtime)
        return self

    def fit(self, X, y):
        self.base_ = bind_runtime(clone(self.base), self.runtime).fit(X, y)
        self.classes_ = self.base_.classes_
        return self

    def predict_proba(self, X):
        proba = np.asarray(self.base_.predict_proba(X), dtype=float)
        return self.calibrator(proba) if self.calibrator is not None else proba

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]
