"""The ensemble a search may export: a weighted average of pipelines' probabilities."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from automl.components.runtime import Runtime, TimeLimit, UsesRuntime, bind_runtime
from automl.pipeline.proba import aligned_proba

MIN_MEMBER_SECONDS = 1.0


class EnsembleClassifier(UsesRuntime, ClassifierMixin, BaseEstimator):
    """Weighted average of member pipelines' probabilities; each member is fitted on all data."""

    def __init__(self, members: list | None = None, weights: list[float] | None = None):
        self.members = members
        self.weights = weights

    def set_runtime(self, runtime: Runtime) -> EnsembleClassifier:
        super().set_runtime(runtime)
        for m in getattr(self, "members_", []):
            bind_runtime(m, runtime)
        return self

    def fit(self, X, y):
        """Fit each member in turn. A time limit is split as cross-validation splits it over
        folds: each member gets an equal part of what is left, and what a fast member leaves
        passes on. Given the whole limit each, one fine-tuner in an ensemble of six trained for
        all of the refit's 35 s and the ensemble missed its deadline."""
        self.classes_ = np.unique(y)
        limit = TimeLimit(self.runtime.time_limit, share=1.0)
        self.members_ = []
        for i, member in enumerate(self.members):
            runtime = self.runtime
            if limit.seconds is not None:
                left = max(limit.seconds - limit.elapsed(), MIN_MEMBER_SECONDS)
                runtime = replace(runtime, time_limit=left / (len(self.members) - i))
            self.members_.append(bind_runtime(clone(member), runtime).fit(X, y))
        return self

    def predict_proba(self, X):
        k = len(self.classes_)
        return sum(w * aligned_proba(m, X, k) for m, w in zip(self.members_, self.weights))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]
