import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression

from automl.pipeline.build import FeaturePipeline


class Noisy(TransformerMixin, BaseEstimator):
    """Identity features with two augmented views (shifted copies)."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float)

    def augmented_views(self, X):
        return [self.transform(X) + 0.01, self.transform(X) - 0.01]


class Recorder(LogisticRegression):
    def fit(self, X, y, sample_weight=None):
        self.seen_rows_ = len(X)
        self.seen_weights_ = None if sample_weight is None else len(sample_weight)
        return super().fit(X, y, sample_weight=sample_weight)


def test_augmented_views_become_extra_training_rows_only():
    X = np.arange(20, dtype=float).reshape(10, 2)
    y = np.array([0, 1] * 5)
    pipe = FeaturePipeline([("features", Noisy()), ("learner", Recorder())])
    pipe.fit(X, y, learner__sample_weight=np.ones(10))
    assert pipe.named_steps["learner"].seen_rows_ == 30
    assert pipe.named_steps["learner"].seen_weights_ == 30
    assert pipe.predict_proba(X).shape == (10, 2)  # prediction uses the plain view only
