import time
from contextlib import contextmanager

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from automl.components.base import BuildContext
from automl.components.learners.classical import XGBoostClassifier
from automl.components.runtime import Unaffordable, UsesRuntime
from automl.data.dataset import Dataset, Modality
from automl.data.profile import profile_dataset
from automl.data.splits import make_fold_plan
from automl.pipeline.metrics import METRICS
from automl.pipeline.proba import aligned_proba
from automl.search.evaluate import FoldError, cross_validate
from automl.space.spec import ComponentSpec, PipelineSpec


@pytest.fixture
def problem(iris_frame):
    X = iris_frame.drop(columns="target")
    y = iris_frame["target"].to_numpy()
    prof = profile_dataset(Dataset(Modality.TABULAR, X, y, "iris"))
    return X, y, make_fold_plan(y, 3, 0, prof), BuildContext(profile=prof)


def spec(learner="logreg", **params):
    return PipelineSpec(ComponentSpec(learner, params), ComponentSpec("tabular", {}))


def test_cv_scores_every_fold_and_reports(problem):
    X, y, plan, ctx = problem
    seen = []
    res = cross_validate(
        spec(), X, y, plan, METRICS.get("accuracy"), ctx, on_fold=lambda i, s, m: seen.append((i, s, m))
    )
    assert len(res.scores) == len(plan) == len(seen)
    assert 0.85 < res.mean <= 1.0
    assert seen[-1][2] == pytest.approx(res.mean)
    # Each repeat's out-of-fold predictions cover every row once: the first for ranking and
    # ensembling, the second for scoring the selection on another partition.
    assert plan.n_repeats >= 2 and res.oof_second is not None
    for oof in (res.oof, res.oof_second):
        assert np.allclose(oof.sum(axis=1), 1.0)
    again = cross_validate(spec(), X, y, plan.repeat(1), METRICS.get("accuracy"), ctx)
    assert np.allclose(again.oof, res.oof_second)
    assert cross_validate(spec(), X, y, plan.first_repeat(), METRICS.get("accuracy"), ctx).oof_second is None


def test_failing_fold_is_summarised(problem):
    X, y, plan, ctx = problem
    bad = X.astype(object)
    bad.iloc[:, 0] = "not a number"
    bad_ctx = BuildContext(profile=ctx.profile)  # profile still says the column is numeric
    with pytest.raises(FoldError, match=r"fold 1/\d+ failed: ValueError"):
        cross_validate(spec(), bad, y, plan, METRICS.get("accuracy"), bad_ctx)


def test_a_skipped_step_is_not_a_failed_fold(problem, monkeypatch):
    """An SSL adaptation that cannot afford its first epoch skips the trial (Unaffordable
    passes through); any other error fails the fold."""
    import automl.search.evaluate as evaluate

    X, y, plan, ctx = problem

    class Raises(BaseEstimator):
        def __init__(self, error=None):
            self.error = error

        def fit(self, X, y):
            raise self.error

    for error, raised in (
        (Unaffordable("one epoch would take ~90s"), Unaffordable),
        (ValueError("x"), FoldError),
    ):
        monkeypatch.setattr(evaluate, "build_pipeline", lambda spec, ctx, e=error: Raises(e))
        with pytest.raises(raised):
            cross_validate(spec(), X, y, plan, METRICS.get("accuracy"), ctx)


def test_a_time_stopped_learner_projects_its_whole_schedule(problem, monkeypatch):
    """Folds whose learner ran a quarter of its schedule before its time limit: the result
    says a fold's whole schedule would take about four times its fit."""
    import time

    import automl.search.evaluate as evaluate

    X, y, plan, ctx = problem

    class Cut(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            time.sleep(0.05)
            self.classes_ = np.unique(y)
            self.time_stopped_, self.schedule_done_ = True, 0.25
            return self

        def predict_proba(self, X):
            return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))

    monkeypatch.setattr(evaluate, "build_pipeline", lambda spec, ctx: Cut())
    res = cross_validate(spec(), X, y, plan, METRICS.get("accuracy"), ctx)
    assert res.time_stopped and res.full_fit_seconds == pytest.approx(4 * res.fit_seconds)


def test_aligned_proba_fills_missing_classes():
    class Two:
        classes_ = np.array([0, 2])

        def predict_proba(self, X):
            return np.array([[0.3, 0.7]])

    assert aligned_proba(Two(), [[0]], 3).tolist() == [[0.3, 0.0, 0.7]]


def test_xgboost_follows_estimator_contract(iris_frame):
    X = iris_frame.drop(columns="target").to_numpy()
    y = iris_frame["target"].to_numpy()
    est = XGBoostClassifier(n_estimators=200, learning_rate=0.1)
    model = clone(est).fit(X, y)
    assert model.get_params()["n_estimators"] == 200
    assert 1 <= model.best_n_estimators_ <= 200  # chosen by early stopping
    assert model.predict_proba(X).shape == (150, 3)
    assert (model.predict(X) == y).mean() > 0.9
    assert not hasattr(est, "model_")  # clone did not fit the original


@pytest.mark.parametrize("name", ["accuracy", "balanced_accuracy", "f1_macro", "log_loss", "roc_auc"])
def test_metrics_rank_perfect_above_random(name):
    m = METRICS.get(name)
    y = np.array([0, 1, 2, 0, 1, 2])
    perfect = np.eye(3)[y] * 0.9 + 0.1 / 3
    uniform = np.full((6, 3), 1 / 3)
    assert m.better(m.score(y, perfect), m.score(y, uniform))


def test_batched_scores_equal_the_metric_definitions():
    from automl.pipeline.metrics import score_many

    rng = np.random.default_rng(0)
    for n, k in [(12, 2), (50, 6), (200, 10)]:
        y = rng.integers(0, k, n)
        y[:k] = np.arange(k)
        probas = rng.dirichlet(np.ones(k), size=(5, n))
        for name in ["accuracy", "balanced_accuracy", "f1_macro", "log_loss", "roc_auc"]:
            m = METRICS.get(name)
            assert np.allclose(score_many(m, y, probas), [m.score(y, p) for p in probas]), name


def test_an_expensive_trial_stops_when_it_cannot_catch_up():
    from automl.search.objective import _cannot_catch_up

    acc = METRICS.get("accuracy")
    best = (0.80, 0.05)
    assert _cannot_catch_up([0.50, 0.55], best, acc, 5)  # far below, two folds in
    assert not _cannot_catch_up([0.75, 0.78], best, acc, 5)  # within reach
    assert not _cannot_catch_up([0.40], best, acc, 5)  # one fold says too little
    assert not _cannot_catch_up([0.5] * 5, best, acc, 5)  # finished: nothing left to save
    loss = METRICS.get("log_loss")
    assert _cannot_catch_up([1.2, 1.3], (0.4, 0.05), loss, 5)


def test_saga_runs_in_chunks_a_deadline_can_stop_between(monkeypatch):
    """The stepped logistic regression solves as the plain one does, but in calls of
    SAGA_CHUNK epochs, so a signal (the hard deadline) is handled within one chunk. A single
    call (the plain estimator) fails the first assertion."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from automl.components.learners.classical import SAGA_CHUNK, SteppedLogisticRegression

    X, y = make_classification(300, 60, n_informative=20, n_classes=3, random_state=0)
    kw = dict(C=50.0, l1_ratio=1.0, solver="saga", max_iter=3000, tol=1e-6, random_state=0)
    calls, plain_fit = [], LogisticRegression.fit

    def counting(self, *a, **k):
        calls.append(self.max_iter)
        return plain_fit(self, *a, **k)

    monkeypatch.setattr(LogisticRegression, "fit", counting)
    stepped = SteppedLogisticRegression(**kw).fit(X, y)
    assert len(calls) > 1 and set(calls) == {SAGA_CHUNK}
    monkeypatch.undo()
    plain = make_pipeline(StandardScaler(), LogisticRegression(**kw)).fit(X, y)
    assert (stepped.predict(X) == plain.predict(X)).mean() > 0.99
    assert stepped.get_params() == plain[-1].get_params()  # its parameters are left as given


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_sparse_penalty_weighs_standardised_coefficients():
    """l1 and elastic net fit the coefficients of standardised features (glmnet's convention)
    and map them back, so the fitted model takes raw features: the same decisions as scaler +
    plain logistic regression, which the plain model on raw features (the variant without the
    standardisation) does not give. An l2 fit and a sparse matrix are fitted as given."""
    from scipy.sparse import csr_matrix
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from automl.components.learners.classical import SteppedLogisticRegression

    X, y = make_classification(200, 12, n_informative=6, n_classes=3, random_state=1)
    X = X * np.logspace(-2, 3, 12) + np.linspace(-50, 50, 12)  # scales from hundredths to thousands
    kw = dict(C=0.5, l1_ratio=1.0, solver="saga", max_iter=5000, tol=1e-8, random_state=0)
    stepped = SteppedLogisticRegression(**kw).fit(X, y)
    scaled = make_pipeline(StandardScaler(), LogisticRegression(**kw)).fit(X, y)
    np.testing.assert_allclose(stepped.decision_function(X), scaled.decision_function(X), atol=1e-3)
    assert (stepped.coef_ == 0).sum() == (scaled[-1].coef_ == 0).sum() > 0  # the same coordinates dropped
    raw = LogisticRegression(**{**kw, "max_iter": 200}).fit(X, y)
    assert not np.allclose(raw.decision_function(X), scaled.decision_function(X), atol=1e-3)
    l2 = dict(C=0.5, l1_ratio=0.0, solver="newton-cg", max_iter=5000, tol=1e-8)
    np.testing.assert_allclose(
        SteppedLogisticRegression(**l2).fit(X, y).coef_, LogisticRegression(**l2).fit(X, y).coef_
    )
    S = csr_matrix(np.abs(X[:, :4]) / 1e3)
    np.testing.assert_allclose(
        SteppedLogisticRegression(**kw).fit(S, y).coef_, LogisticRegression(**kw).fit(S, y).coef_, atol=1e-6
    )


LIMITS: list[float | None] = []  # the time limit each TimeRecorder fit was given


class TimeRecorder(UsesRuntime, ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        LIMITS.append(self.runtime.time_limit)
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))


@contextmanager
def one_learner_objective(problem, tmp_path, name, make, deadline, cost=0):
    """An Objective over a space of one learner, ``make()`` building it, registered for the block."""
    from automl.components.base import LEARNERS, ComponentInfo, register
    from automl.search.objective import Objective
    from automl.space.preset import load_space

    X, y, plan, ctx = problem
    register(
        ComponentInfo(
            name,
            "learner",
            "a test learner",
            frozenset(Modality),
            lambda p: {},
            lambda params, ctx: make(),
            lambda p: {},
            cost=cost,
        )
    )
    try:
        space_file = tmp_path / "space.yaml"
        space_file.write_text(
            f"# purpose: test  # cost: ms\nlearners: {{{name}: {{}}}}\nfeatures: {{tabular: {{}}}}\n"
        )
        space = load_space(space_file, ctx.profile)
        yield Objective(space, X, y, plan, METRICS.get("accuracy"), ctx, deadline)
    finally:
        LEARNERS.unregister(name)


@pytest.mark.parametrize("cost", [0, 3])
def test_an_expensive_trial_gets_a_share_of_the_budget(problem, tmp_path, cost):
    """An expensive learner's folds split EXPENSIVE_TRIAL_SHARE of the budget between them; a
    cheap one's folds split all the search has left (the variant the cap must differ from)."""
    import optuna

    from automl.components.base import EXPENSIVE_TRIAL_SHARE
    from automl.search.budget import Deadline

    plan = problem[2]
    LIMITS.clear()
    with one_learner_objective(
        problem, tmp_path, "time_recorder", TimeRecorder, Deadline(100.0), cost
    ) as objective:
        optuna.create_study(direction="maximize").optimize(objective, n_trials=1)
    n_folds = plan.n_splits if cost == 3 else len(plan)
    assert len(LIMITS) == n_folds
    cap = EXPENSIVE_TRIAL_SHARE * 100.0
    if cost == 3:  # time a fold leaves unused passes to the next; the trial's total stays capped
        assert LIMITS[0] <= cap / n_folds + 0.5 and max(LIMITS) <= cap + 0.5
    else:
        assert LIMITS[0] > 2 * cap / n_folds


def test_xgboost_stopped_by_its_time_limit_in_the_first_round_still_fits(iris_frame):
    """A time limit that stops the early-stopping pass at its first round (before early
    stopping records a best round) leaves a model of the rounds done, not an AttributeError."""
    from automl.components.runtime import Runtime

    X = iris_frame.drop(columns="target").to_numpy()
    y = iris_frame["target"].to_numpy()
    model = XGBoostClassifier(n_estimators=200).set_runtime(Runtime(time_limit=1e-9)).fit(X, y)
    assert model.best_n_estimators_ >= 1
    assert model.predict_proba(X).shape == (150, 3)


class Stuck(ClassifierMixin, BaseEstimator):
    """A cheap learner that ignores every time limit (a runaway solver)."""

    def fit(self, X, y):
        time.sleep(3600)
        return self


@pytest.mark.parametrize("incumbent", [True, False])
def test_a_runaway_cheap_trial_is_stopped_at_one_trials_share_once_some_trial_finished(
    problem, tmp_path, incumbent
):
    """With a finished trial in the study, a cheap trial is stopped at EXPENSIVE_TRIAL_SHARE of
    the budget and says so; with none, it may run to the search's end (the search needs an
    answer), which is the variant the cap must differ from."""
    import optuna

    from automl.components.base import EXPENSIVE_TRIAL_SHARE
    from automl.search.budget import Deadline

    budget = 12.0  # the cap: 3 s; the search's trial time: 12 s less a 3 s reserve
    with one_learner_objective(problem, tmp_path, "stuck", Stuck, Deadline(budget, reserve=3.0)) as objective:
        study = optuna.create_study(direction="maximize")
        if incumbent:
            study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"fold_scores": [0.5]}))
        t0 = time.monotonic()
        study.optimize(objective, n_trials=1)
        took = time.monotonic() - t0
    stopped = study.trials[-1]
    assert stopped.state == optuna.trial.TrialState.PRUNED
    cap = EXPENSIVE_TRIAL_SHARE * budget
    if incumbent:
        assert took < cap + 2.5 and "share of the budget" in stopped.user_attrs["stopped"]
    else:
        assert took > budget - 3.0 and "budget spent" in stopped.user_attrs["stopped"]
