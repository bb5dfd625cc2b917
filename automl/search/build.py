"""``build_pipeline``: the one function that turns a spec into an estimator.

Trials, the final refit and the exported model all go through it.
"""
from __future__ import annotations

from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from automl.components.base import FEATURES, LEARNERS, SEMI, BuildContext, load_components
from automl.space.spec import PipelineSpec


def build_pipeline(spec: PipelineSpec, ctx: BuildContext) -> BaseEstimator:
    load_components()
    model = LEARNERS.get(spec.learner.name).build(dict(spec.learner.params), ctx)
    if spec.features is not None:
        features = FEATURES.get(spec.features.name).build(dict(spec.features.params), ctx)
        model = Pipeline([("features", features), ("learner", model)])
    if spec.semi is not None:
        model = SEMI.get(spec.semi.name).build(dict(spec.semi.params), ctx).set_params(base=model)
    return model
