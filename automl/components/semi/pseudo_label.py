"""Pseudo-labelling: train, label the confident part of the unlabelled pool, retrain.

Works around any learner (classical ones included) because it only needs ``predict_proba``.
Only the training fold and the pool are ever seen by ``fit``, so a validation fold's labels
cannot leak into training through pseudo-labels.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import has_fit_parameter

from automl.components.base import ALL_MODALITIES, BuildContext, ComponentInfo, register
from automl.components.runtime import Runtime, UsesRuntime, bind_runtime, one_off_limit
from automl.data.dataset import concat_rows, take
from automl.logger import log
from automl.space.domains import FloatDomain, IntDomain

# Predicting the pool costs one forward pass per item and round; 5,000 items keeps that to
# seconds for cached embeddings while leaving far more candidates than labels.
MAX_POOL = 5000


class PseudoLabelClassifier(UsesRuntime, ClassifierMixin, BaseEstimator):
    """The pool comes from the runtime at fit time: it is never a parameter, so it is neither
    cloned with the model nor saved with it."""

    def __init__(
        self,
        base: Any = None,
        threshold: float = 0.6,
        rounds: int = 3,
        weight: float = 1.0,
        max_ratio: float = 10.0,
        random_state: int = 0,
    ):
        self.base = base
        self.threshold = threshold
        self.rounds = rounds
        self.weight = weight
        self.max_ratio = max_ratio
        self.random_state = random_state

    def set_runtime(self, runtime: Runtime) -> PseudoLabelClassifier:
        super().set_runtime(runtime)
        if hasattr(self, "base_"):
            bind_runtime(self.base_, runtime)
        return self

    def _fresh_base(self):
        return bind_runtime(clone(self.base), self.runtime)

    def fit(self, X, y):
        y = np.asarray(y)
        t0 = time.monotonic()
        time_limit = self.runtime.time_limit
        self.classes_ = np.unique(y)
        self.base_ = self._fresh_base().fit(X, y)
        self.n_pseudo_, self.rounds_ = 0, 0
        pool = self._pool()
        if pool is None:
            return self
        # At most max_ratio pseudo-labels per labelled example of each class, most confident
        # first: stops a majority class (or an early mistake) from flooding the training set.
        per_class = np.bincount(np.searchsorted(self.classes_, y), minlength=len(self.classes_))
        for r in range(self.rounds):
            # Each round refits on more rows than the last; stop when one more would likely
            # overrun the fit's share of the budget (the search then keeps its deadline).
            spent = time.monotonic() - t0
            if r and time_limit is not None and spent * (r + 1) / r > time_limit:
                log.debug(
                    "pseudo-labelling stopped after %d of %d rounds (%.0fs of %.0fs)",
                    r,
                    self.rounds,
                    spent,
                    time_limit,
                )
                break
            proba = self._predict_pool(pool)
            model_classes = np.asarray(self.base_.classes_)
            conf, pred = proba.max(1), model_classes[proba.argmax(1)]
            chosen = []
            for k, c in enumerate(self.classes_):
                idx = np.flatnonzero((pred == c) & (conf >= self.threshold))
                cap = int(np.ceil(self.max_ratio * per_class[k]))
                chosen.append(idx[np.argsort(-conf[idx])][:cap])
            keep = np.concatenate(chosen)
            if len(keep) == 0:
                break
            X_all = concat_rows(X, take(pool, keep))
            y_all = np.concatenate([y, pred[keep]])
            w = np.concatenate([np.ones(len(y)), np.full(len(keep), self.weight)])
            labelled = np.arange(len(y_all)) < len(y)
            self.base_ = _fit_weighted(self._keeping_tuned(self._fresh_base()), X_all, y_all, w, labelled)
            self.n_pseudo_, self.rounds_ = len(keep), r + 1
        log.debug("pseudo-labelled %d pool items", self.n_pseudo_)
        return self

    def _keeping_tuned(self, model):
        """``model`` with the hyperparameters the first fit tuned on the labelled rows fixed
        (``tuned_params_`` of its final estimator): a round re-tunes nothing on pseudo-labels.
        A probe's inner C path costs ~24 fits a round on a pool ten times the labels (47-77 s
        of a 5-minute cifar10-few search); fixed, one."""
        tuned = getattr(_final(self.base_), "tuned_params_", None)
        if tuned:
            _final(model).set_params(**tuned)
        return model

    def _predict_pool(self, pool) -> np.ndarray:
        """The base's probabilities on the pool. Embedding the pool with a backbone for the
        first time is a one-off cost later trials reuse: it may take the search's one-off share,
        and a featuriser that measures it cannot skips the trial (Unaffordable)."""
        limit = one_off_limit(self.runtime)
        if limit is None:
            return self.base_.predict_proba(pool)
        bind_runtime(self.base_, replace(self.runtime, one_off_seconds=limit))
        try:
            return self.base_.predict_proba(pool)
        finally:
            bind_runtime(self.base_, self.runtime)

    def _pool(self):
        pool = self.runtime.unlabelled
        if pool is None or len(pool) == 0:
            return None
        if len(pool) > MAX_POOL:
            idx = np.random.default_rng(self.random_state).choice(len(pool), MAX_POOL, replace=False)
            pool = take(pool, np.sort(idx))
        return pool

    def predict_proba(self, X):
        proba = self.base_.predict_proba(X)
        if np.array_equal(np.asarray(self.base_.classes_), self.classes_):
            return proba
        out = np.zeros((proba.shape[0], len(self.classes_)))
        out[:, np.searchsorted(self.classes_, self.base_.classes_)] = proba
        return out

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]


def _final(model):
    return model.steps[-1][1] if isinstance(model, Pipeline) else model


def _fit_weighted(model, X, y, w, labelled):
    """Fit with per-row weights where the final estimator takes them, else unweighted; a
    featuriser that adds augmented views adds them for the ``labelled`` rows only."""
    final = _final(model)
    params = {"augment_rows": labelled} if has_fit_parameter(model, "augment_rows") else {}
    if has_fit_parameter(final, "sample_weight"):
        key = f"{model.steps[-1][0]}__sample_weight" if isinstance(model, Pipeline) else "sample_weight"
        params[key] = w
    return model.fit(X, y, **params)


def _build(params: dict[str, Any], ctx: BuildContext) -> PseudoLabelClassifier:
    return PseudoLabelClassifier(random_state=ctx.seed, **params)


register(
    ComponentInfo(
        name="pseudo_label",
        kind="semi",
        summary="self-training on confident predictions for the unlabelled pool",
        modalities=ALL_MODALITIES,
        # The pool is typically 10x the labels, so up to 10 pseudo-labels per labelled example,
        # added over 3 rounds as the model sharpens, with a moderate threshold. With fewer, more
        # confident pseudo-labels (0.9, one round, 2 per example) a linear probe barely moves: in
        # 5x2 CV on cifar10-few's 200 training images (Lite2 embeddings, 2,000-image pool) the
        # probe scored 0.70, with those settings 0.72, with these 0.73-0.75.
        space=lambda p: {
            "semi.threshold": FloatDomain(0.3, 0.95),
            "semi.rounds": IntDomain(1, 5),
            "semi.weight": FloatDomain(0.1, 1.0),
            "semi.max_ratio": FloatDomain(1.0, 20.0, log=True),
        },
        build=lambda params, ctx: _build({k.removeprefix("semi."): v for k, v in params.items()}, ctx),
        # The class's own defaults, so the two cannot drift apart.
        defaults=lambda p: {
            f"semi.{k}": PseudoLabelClassifier().get_params()[k]
            for k in ("threshold", "rounds", "weight", "max_ratio")
        },
        cost=1,
        strategy="semi",
    )
)
