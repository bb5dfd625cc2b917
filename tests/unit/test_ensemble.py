import numpy as np
import optuna
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from automl.pipeline.ensemble import EnsembleClassifier
from automl.pipeline.metrics import METRICS
from automl.search.ensemble import select_ensemble


def _trials(*oofs_and_values):
    study = optuna.create_study(direction="maximize")
    for value, oof in oofs_and_values:
        study.add_trial(optuna.trial.create_trial(value=value, user_attrs={"oof": oof.tolist()}))
    return study.trials


def test_complementary_models_are_combined():
    y = np.array([0, 0, 1, 1, 0, 1])
    # each model is confidently wrong on a different row; their average is right everywhere
    a = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    b = np.array([[0.8, 0.2], [0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.7, 0.3], [0.1, 0.9]])
    acc = METRICS.get("accuracy")
    trials = _trials((acc.score(y, a), a), (acc.score(y, b), b))
    plan = select_ensemble(trials, y, acc)
    assert plan is not None and set(plan.members) == {0, 1}
    assert plan.oof_score == 1.0 and plan.best_single_oof < 1.0
    assert abs(sum(plan.weights) - 1) < 1e-9


def test_no_ensemble_when_it_does_not_help():
    y = np.array([0, 1, 0, 1])
    perfect = np.array([[1.0, 0], [0, 1.0], [1.0, 0], [0, 1.0]])
    acc = METRICS.get("accuracy")
    assert select_ensemble(_trials((1.0, perfect)), y, acc) is None
    assert select_ensemble(_trials((1.0, perfect), (1.0, perfect)), y, acc) is None


def test_ensemble_classifier_contract():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    ens = EnsembleClassifier([LogisticRegression(), DecisionTreeClassifier(max_depth=2)], [0.7, 0.3])
    model = clone(ens).fit(X, y)
    p = model.predict_proba(X)
    assert p.shape == (60, 2) and np.allclose(p.sum(1), 1)
    assert (model.predict(X) == y).mean() > 0.9
