"""The ensemble a search may export: a weighted average of pipelines' probabilities."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from automl.components.runtime import Runtime, UsesRuntime, bind_runtime
from automl.pipeline.proba import aligned_proba


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
        self.classes_ = np.unique(y)
        self.members_ = [bind_runtime(clone(m), self.runtime).fit(X, y) for m in self.members]
        return self

    def predict_proba(self, X):
        k = len(self.classes_)
        return sum(w * aligned_proba(m, X, k) for m, w in zip(self.members_, self.weights))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]
