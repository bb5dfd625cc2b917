"""``build_pipeline``: the one function that turns a spec into an estimator.

Trials, the final refit and the exported model all go through it.
"""
from __future__ import annotations

from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from automl.components.base import FEATURES, LEARNERS, BuildContext, load_components
from automl.space.spec import PipelineSpec


def build_pipeline(spec: PipelineSpec, ctx: BuildContext) -> BaseEstimator:
    load_components()
    learner = LEARNERS.get(spec.learner.name).build(dict(spec.learner.params), ctx)
    if spec.features is None:
        return learner
    features = FEATURES.get(spec.features.name).build(dict(spec.features.params), ctx)
    return Pipeline([("features", features), ("learner", learner)])
