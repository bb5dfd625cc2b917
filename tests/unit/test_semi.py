"""Pseudo-labelling: it uses the pool, it is in the space only with a pool, and it cannot leak."""

import optuna
import pandas as pd
from sklearn.datasets import make_classification

from automl.components.runtime import Runtime
from automl.components.semi.pseudo_label import PseudoLabelClassifier
from automl.data.dataset import Dataset, Modality
from automl.data.profile import profile_dataset
from automl.space.preset import load_space
from automl.space.sample import start_points, suggest_pipeline
from automl.space.spec import ComponentSpec, PipelineSpec


def make_data(n_labelled=40, n_pool=400, seed=0):
    X, y = make_classification(
        n_samples=n_labelled + n_pool, n_features=8, n_informative=4, random_state=seed
    )
    cols = [f"f{i}" for i in range(8)]
    df = pd.DataFrame(X, columns=cols)
    return (
        df.iloc[:n_labelled].reset_index(drop=True),
        y[:n_labelled],
        df.iloc[n_labelled:].reset_index(drop=True),
    )


def semi_spec(threshold=0.6):
    return PipelineSpec(
        ComponentSpec("logreg", {"C": 1.0}),
        ComponentSpec("tabular", {}),
        ComponentSpec(
            "pseudo_label",
            {"semi.threshold": threshold, "semi.rounds": 2, "semi.weight": 0.5, "semi.max_ratio": 3.0},
        ),
    )


def test_pseudo_labels_are_added_and_capped():
    X, y, pool = make_data()
    from sklearn.linear_model import LogisticRegression

    model = PseudoLabelClassifier(LogisticRegression(), threshold=0.6, max_ratio=1.0)
    model = model.set_runtime(Runtime(unlabelled=pool)).fit(X, y)
    assert 0 < model.n_pseudo_ <= len(y)  # at most 1 pseudo-label per labelled example
    assert model.predict_proba(X).shape == (len(y), 2)


def test_rounds_stop_at_the_time_limit():
    """A fit's share of the budget bounds the rounds; without a limit all of them run."""
    X, y, pool = make_data()
    from sklearn.linear_model import LogisticRegression

    kw = dict(threshold=0.6, rounds=3, max_ratio=3.0)
    unlimited, limited = Runtime(unlabelled=pool), Runtime(unlabelled=pool, time_limit=1e-6)
    assert PseudoLabelClassifier(LogisticRegression(), **kw).set_runtime(unlimited).fit(X, y).rounds_ == 3
    assert PseudoLabelClassifier(LogisticRegression(), **kw).set_runtime(limited).fit(X, y).rounds_ == 1


def test_rounds_keep_the_probes_c_chosen_on_the_true_labels_and_weigh_pseudo_labels():
    import numpy as np

    from automl.components.learners.classical import ProbeClassifier

    X, y, pool = make_data()
    labelled_only = ProbeClassifier().fit(X, y)
    model = PseudoLabelClassifier(ProbeClassifier(), threshold=0.6, rounds=2, weight=0.3, max_ratio=3.0)
    model.set_runtime(Runtime(unlabelled=pool)).fit(X, y)
    assert model.rounds_ == 2 and model.n_pseudo_ > 0
    # The rounds refit at the C tuned on the labelled rows, without another inner C path.
    assert model.base_.n_cs == 1 and model.base_.C_ == labelled_only.C_
    # Weights count: a row of weight 2 is two copies of it, a row of weight 0 is no row.
    X2, y2 = pd.concat([X, X.iloc[:5]]), np.concatenate([y, y[:5]])
    w = np.r_[np.ones(len(y)), np.zeros(5)]
    w[:5] = 2
    fixed = dict(c_low=1.0, c_high=1.0, n_cs=1)
    copies = ProbeClassifier(**fixed).fit(X2, y2).model_.coef_
    weighted = ProbeClassifier(**fixed).fit(X2, y2, sample_weight=w).model_.coef_
    assert np.allclose(copies, weighted, atol=1e-4)


def test_space_has_semi_only_with_a_pool():
    X, y, pool = make_data()
    without = profile_dataset(Dataset(Modality.TABULAR, X, y, "t"))
    with_pool = profile_dataset(Dataset(Modality.TABULAR, X, y, "t", unlabelled=pool))
    assert load_space(None, without).semi == {}
    assert "No unlabelled data" in " ".join(load_space(None, without).notes)
    space = load_space(None, with_pool)
    assert "pseudo_label" in space.semi
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for params in start_points(space, with_pool):
        assert params["semi"] == "none"  # start points stay plain and cheap
        study.enqueue_trial(params)
    specs = [suggest_pipeline(study.ask(), space) for _ in range(40)]
    assert {s.semi.name if s.semi else "none" for s in specs} == {"none", "pseudo_label"}


def test_profile_reports_pool_overlap():
    X, y, pool = make_data()
    pool = pd.concat([pool, X.iloc[:3]], ignore_index=True)
    prof = profile_dataset(Dataset(Modality.TABULAR, X, y, "t", unlabelled=pool))
    assert prof.extras["unlabelled_overlap"] == 3
    assert "identical to labelled" in prof.statement()


def test_pseudo_labelling_gives_the_pool_embedding_the_one_off_share(monkeypatch):
    """Predicting the pool runs with the search's one-off allowance (30% of the time left), so a
    featuriser embedding it anew can skip a trial it cannot afford; labelled rows never do."""
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.linear_model import LogisticRegression

    from automl.components.runtime import ONE_OFF_SHARE, UsesRuntime

    X, y, pool = make_data()
    seen = []

    class Spy(UsesRuntime, ClassifierMixin, BaseEstimator):
        def fit(self, X, y, sample_weight=None):
            seen.append(("fit", self.runtime.one_off_seconds))
            self.model_ = LogisticRegression().fit(X, y, sample_weight=sample_weight)
            self.classes_ = self.model_.classes_
            return self

        def predict_proba(self, X):
            seen.append(("pool" if len(X) == len(pool) else "other", self.runtime.one_off_seconds))
            return self.model_.predict_proba(X)

    rt = Runtime(unlabelled=pool, search_left=100.0)
    PseudoLabelClassifier(Spy(), threshold=0.6, rounds=2, max_ratio=3.0).set_runtime(rt).fit(X, y)
    assert ("pool", ONE_OFF_SHARE * 100.0) in seen
    assert all(limit is None for what, limit in seen if what != "pool")


def test_augmented_views_are_made_for_labelled_rows_only():
    """Self-training adds up to max_ratio pool items per label; embedding augmented views of
    each of them too multiplied a trial's cost by the view count. Only labelled rows get views
    (and the variant that passes no mask, computed alongside, shows the test can fail)."""
    import numpy as np
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.linear_model import LogisticRegression

    from automl.components.semi import pseudo_label
    from automl.pipeline.build import FeaturePipeline

    X, y, pool = make_data()
    augmented: list[set] = []

    class ViewSpy(TransformerMixin, BaseEstimator):
        strength = 1.0

        def fit(self, X, y=None):
            return self

        def transform(self, X):
            return np.asarray(X, dtype=float)

        def augmented_views(self, X):
            augmented.append({tuple(r) for r in np.round(np.asarray(X, dtype=float), 6)})
            return [np.asarray(X, dtype=float) + 0.01, np.asarray(X, dtype=float) - 0.01]

    def fit(fit_weighted):
        augmented.clear()
        base = FeaturePipeline([("features", ViewSpy()), ("learner", LogisticRegression())])
        model = PseudoLabelClassifier(base, threshold=0.5, rounds=2, max_ratio=3.0)
        original = pseudo_label._fit_weighted
        pseudo_label._fit_weighted = fit_weighted
        try:
            model.set_runtime(Runtime(unlabelled=pool)).fit(X, y)
        finally:
            pseudo_label._fit_weighted = original
        assert model.n_pseudo_ > 0
        return set().union(*augmented)

    pool_rows = {tuple(r) for r in np.round(pool.to_numpy(), 6)}
    assert not fit(pseudo_label._fit_weighted) & pool_rows

    def leaky(model, X, y, w, labelled):  # the old behaviour: views of every row
        return model.fit(X, y, learner__sample_weight=w)

    assert fit(leaky) & pool_rows


def test_pool_trials_hold_at_most_their_share_of_trial_time():
    """Past POOL_SHARE of the study's trial time in pool trials, a trial is drawn from the
    labelled-only space (the pool's parameters not sampled); below it, from the whole space."""
    import datetime

    from automl.components.pretrain.base import NONE
    from automl.search.objective import POOL_SHARE, _pool_share_spent
    from automl.space.domains import CategoricalDomain, Conditional, IntDomain
    from automl.space.sample import _suggest_params

    X, y, pool = make_data()
    space = load_space(None, profile_dataset(Dataset(Modality.TABULAR, X, y, "t", unlabelled=pool)))
    t0 = datetime.datetime(2026, 1, 1)

    def study_with(pool_seconds: float, labelled_seconds: float) -> optuna.Study:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for seconds, spec in (
            (pool_seconds, semi_spec()),
            (labelled_seconds, PipelineSpec(ComponentSpec("logreg", {}))),
        ):
            study.add_trial(
                optuna.trial.FrozenTrial(
                    number=0,
                    trial_id=0,
                    state=optuna.trial.TrialState.COMPLETE,
                    value=0.5,
                    datetime_start=t0,
                    datetime_complete=t0 + datetime.timedelta(seconds=seconds),
                    params={},
                    distributions={},
                    user_attrs={"spec": spec.to_dict()},
                    system_attrs={},
                    intermediate_values={},
                )
            )
        return study

    under = study_with(POOL_SHARE * 100 - 1, 100 - (POOL_SHARE * 100 - 1))
    over = study_with(POOL_SHARE * 100 + 1, 100 - (POOL_SHARE * 100 + 1))

    def spent(study) -> bool:
        trial = study.ask()
        return _pool_share_spent(trial, study.get_trials(deepcopy=False))

    assert not spent(under)
    assert spent(over)
    over.enqueue_trial({"semi": "pseudo_label"})
    assert not spent(over)  # a start point runs as given

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    free = [suggest_pipeline(study.ask(), space) for _ in range(30)]
    held = [(t := study.ask(), suggest_pipeline(t, space, pool=False)) for _ in range(30)]
    assert any(s.uses_pool() for s in free)  # the unrestricted draw does use the pool
    assert not any(s.uses_pool() for _, s in held)
    assert not any("semi" in t.params for t, _ in held)  # not sampled, so not learned from
    ssl = {
        "ssl.method": CategoricalDomain((NONE, "simclr")),
        "ssl.epochs": Conditional(IntDomain(1, 5), "ssl.method", ("simclr",)),
    }
    trials = [study.ask() for _ in range(20)]
    assert {_suggest_params(t, "image", ssl)["ssl.method"] for t in trials} == {NONE, "simclr"}
    trials = [study.ask() for _ in range(20)]
    assert all(_suggest_params(t, "image", ssl, pool=False) == {"ssl.method": NONE} for t in trials)
    assert not any(t.params for t in trials)
