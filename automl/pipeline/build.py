"""``build_pipeline``: the one function that turns a spec into an estimator.

Trials, the final refit and the exported model all go through it, so what was evaluated is
exactly what ships.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from automl.components.base import FEATURES, LEARNERS, SEMI, BuildContext
from automl.components.runtime import Runtime, bind_runtime
from automl.data.dataset import take
from automl.space.spec import PipelineSpec


class FeaturePipeline(Pipeline):
    """featuriser -> learner, where the featuriser may add augmented training views.

    A scikit-learn Pipeline cannot add rows, but augmentation for a frozen-feature learner is
    exactly that: each training item also contributes the features of K augmented copies.
    A featuriser opts in by implementing ``augmented_views(X) -> list of matrices`` (one per
    view, rows aligned with X; each cached like the plain features). Prediction is unchanged:
    only the un-augmented view is used.

    ``augment_rows`` (a boolean mask) limits the views to some rows: a self-training wrapper
    passes its labelled rows, so the pseudo-labelled pool items, up to ten per label, are not
    embedded again per view. Augmenting them made one cifar10-few pseudo-label trial (Lite2,
    160 px, 2 views, 2,000-image pool) embed ~4,000 augmented pool images and take 382 s of a
    600 s search.
    """

    def set_runtime(self, runtime: Runtime) -> FeaturePipeline:
        for _, step in self.steps:
            bind_runtime(step, runtime)
        return self

    def fit(self, X, y, augment_rows: np.ndarray | None = None, **params):
        features, learner = self.steps[0][1], self.steps[-1][1]
        name = self.steps[-1][0]
        F = features.fit(X, y).transform(X)
        y = np.asarray(y)
        rows = np.arange(len(y)) if augment_rows is None else np.flatnonzero(augment_rows)
        views = []
        if hasattr(features, "augmented_views") and len(rows):
            views = features.augmented_views(X if augment_rows is None else take(X, rows))
        fit_params = {k.split("__", 1)[1]: v for k, v in params.items() if k.startswith(f"{name}__")}
        if views:
            F = np.vstack([F, *views])
            y = np.concatenate([y, np.tile(y[rows], len(views))])
            if "sample_weight" in fit_params:
                w = np.asarray(fit_params["sample_weight"])
                fit_params["sample_weight"] = np.concatenate([w, np.tile(w[rows], len(views))])
        learner.fit(F, y, **fit_params)
        return self


def build_pipeline(spec: PipelineSpec, ctx: BuildContext) -> BaseEstimator:
    """The estimator ``spec`` describes, bound to ``ctx.runtime`` and not yet fitted."""
    model = LEARNERS.get(spec.learner.name).build(dict(spec.learner.params), ctx)
    if spec.features is not None:
        features = FEATURES.get(spec.features.name).build(dict(spec.features.params), ctx)
        model = FeaturePipeline([("features", features), ("learner", model)])
    if spec.semi is not None:
        model = SEMI.get(spec.semi.name).build(dict(spec.semi.params), ctx).set_params(base=model)
    return bind_runtime(model, ctx.runtime)


def _learner(model: BaseEstimator) -> BaseEstimator:
    inner = getattr(model, "base_", model)  # a semi-supervised wrapper's fitted pipeline
    if isinstance(inner, Pipeline):
        inner = inner.steps[-1][1]
    return inner


def time_stopped(model: BaseEstimator) -> bool:
    """Whether the fitted ``model``'s learner was stopped by its time limit before the end of
    its planned training (``time_stopped_``): its predictions then describe a shorter training
    than a refit with more time gives."""
    return bool(getattr(_learner(model), "time_stopped_", False))


def schedule_share(model: BaseEstimator) -> float:
    """Share of its planned training (steps or epochs) the fitted ``model``'s learner ran
    (``schedule_done_``; 1 for learners without a schedule or not cut short)."""
    return float(getattr(_learner(model), "schedule_done_", 1.0))
