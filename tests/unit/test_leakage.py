"""Leakage canaries: spies record every item and label that a learner, a featuriser, a
pseudo-labeller and an SSL method see during cross-validation. No validation-fold item may
reach a fit, and no labelled item may reach SSL. Each canary is also run once against a
deliberately leaking variant (inside the test) to show that it can fail."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.datasets import make_classification

from automl.components.base import FEATURES, LEARNERS, BuildContext, ComponentInfo, register
from automl.components.runtime import Runtime, UsesRuntime
from automl.data.dataset import Dataset, Modality
from automl.data.profile import profile_dataset
from automl.data.splits import FoldPlan, make_fold_plan
from automl.pipeline.metrics import METRICS
from automl.search.evaluate import cross_validate
from automl.space.spec import ComponentSpec, PipelineSpec

FITS: list[dict] = []  # what each spy fit saw, in order: {"who", "rows", "labels"}


class SpyLearner(ClassifierMixin, BaseEstimator):
    """Records the row ids (column ``row``) and labels of every fit; predicts the prior."""

    def fit(self, X, y):
        FITS.append({"who": "learner", "rows": _rows(X), "labels": np.asarray(y).tolist()})
        self.classes_, counts = np.unique(y, return_counts=True)
        self.prior_ = counts / counts.sum()
        return self

    def predict_proba(self, X):
        return np.tile(self.prior_, (len(X), 1))


class SpyFeatures(TransformerMixin, BaseEstimator):
    """Records the rows and labels its fit sees; passes the numbers through."""

    def fit(self, X, y=None):
        FITS.append({"who": "features", "rows": _rows(X), "labels": None if y is None else list(y)})
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float)


POOLS: list[int | None] = []  # the pool size each PoolRecorder fit was given


class PoolRecorder(UsesRuntime, SpyLearner):
    def fit(self, X, y):
        pool = self.runtime.unlabelled
        POOLS.append(None if pool is None else len(pool))
        return super().fit(X, y)


def _rows(X) -> list[int]:
    return (
        [int(r) for r in np.asarray(X)[:, 0]]
        if not isinstance(X, pd.DataFrame)
        else X["row"].astype(int).tolist()
    )


@pytest.fixture
def spies():
    from automl.data.dataset import Modality as M

    for info in (
        ComponentInfo(
            "spy_learner",
            "learner",
            "records its fits",
            frozenset(M),
            lambda p: {},
            lambda params, ctx: SpyLearner(),
            lambda p: {},
        ),
        ComponentInfo(
            "spy_features",
            "features",
            "records its fits",
            frozenset(M),
            lambda p: {},
            lambda params, ctx: SpyFeatures(),
            lambda p: {},
        ),
    ):
        register(info)
    FITS.clear()
    yield
    LEARNERS.unregister("spy_learner")
    FEATURES.unregister("spy_features")
    FITS.clear()


def table(n_labelled: int = 40, n_pool: int = 60):
    X, y = make_classification(n_samples=n_labelled + n_pool, n_features=4, random_state=0)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    df.insert(0, "row", np.arange(len(df)))  # a unique id: row i of the labelled data, 1000+ pool
    labelled, pool = df.iloc[:n_labelled].reset_index(drop=True), df.iloc[n_labelled:].reset_index(drop=True)
    pool["row"] += 1000
    ds = Dataset(Modality.TABULAR, labelled, y[:n_labelled], "spy", unlabelled=pool)
    prof = profile_dataset(ds)
    return labelled, y[:n_labelled], pool, prof, make_fold_plan(y[:n_labelled], 4, 0, prof)


def validation_leaks(fits: list[dict], plan: FoldPlan, who: str, per_fold: int) -> list[str]:
    """Validation rows of fold i that appear in any fit made while fold i was evaluated."""
    mine = [f for f in fits if f["who"] == who]
    assert len(mine) == per_fold * len(plan), f"expected {per_fold} {who} fit(s) per fold, got {len(mine)}"
    leaks = []
    for i in range(len(plan)):
        _, val = plan.split(i)
        for f in mine[i * per_fold : (i + 1) * per_fold]:
            seen = set(f["rows"]) & set(val.tolist())
            if seen:
                leaks.append(f"fold {i}: {who} fit saw validation rows {sorted(seen)[:5]}")
    return leaks


def leaky_split(plan: FoldPlan) -> FoldPlan:
    """A deliberately broken CV: every fold trains on all rows, its validation rows included."""

    class Leaky(FoldPlan):
        def split(self, i):
            _, test = FoldPlan.split(self, i)
            return np.arange(self.n_rows), test

    return Leaky(plan.test_folds, plan.n_rows, plan.n_splits, plan.n_repeats)


def run_cv(spec, X, y, plan, prof, runtime: Runtime | None = None):
    ctx = BuildContext(prof, runtime=runtime or Runtime())
    return cross_validate(spec, X, y, plan, METRICS.get("accuracy"), ctx)


def test_learner_and_featuriser_never_see_a_validation_row(spies):
    X, y, _, prof, plan = table()
    spec = PipelineSpec(ComponentSpec("spy_learner"), ComponentSpec("spy_features"))
    run_cv(spec, X, y, plan, prof)
    assert validation_leaks(FITS, plan, "learner", 1) == []
    assert validation_leaks(FITS, plan, "features", 1) == []
    FITS.clear()
    run_cv(spec, X, y, leaky_split(plan), prof)  # the canary can fail
    assert validation_leaks(FITS, plan, "learner", 1) and validation_leaks(FITS, plan, "features", 1)


def test_pseudo_labelling_never_trains_on_a_validation_row(spies):
    X, y, pool, prof, plan = table()
    rounds = 2
    spec = PipelineSpec(
        ComponentSpec("spy_learner"),
        ComponentSpec("spy_features"),
        ComponentSpec(
            "pseudo_label",
            {"semi.threshold": 0.0, "semi.rounds": rounds, "semi.weight": 1.0, "semi.max_ratio": 5.0},
        ),
    )
    run_cv(spec, X, y, plan, prof, Runtime(unlabelled=pool))
    fits = [f for f in FITS if f["who"] == "learner"]
    assert len(fits) == (1 + rounds) * len(plan)
    assert any(r >= 1000 for f in fits for r in f["rows"])  # pool items were pseudo-labelled
    assert validation_leaks(FITS, plan, "learner", 1 + rounds) == []
    # A careless variant uses the whole labelled table as its pool: validation rows then
    # reach training with pseudo-labels, and the canary says so.
    FITS.clear()
    run_cv(spec, X, y, plan, prof, Runtime(unlabelled=X))
    assert validation_leaks(FITS, plan, "learner", 1 + rounds)


def test_a_fold_that_prunes_stops_the_fits(spies):
    import optuna

    X, y, _, prof, plan = table()

    def prune(i, score, mean):
        raise optuna.TrialPruned()

    with pytest.raises(optuna.TrialPruned):
        cross_validate(
            PipelineSpec(ComponentSpec("spy_learner"), ComponentSpec("spy_features")),
            X,
            y,
            plan,
            METRICS.get("accuracy"),
            BuildContext(prof),
            on_fold=prune,
        )
    assert [f["who"] for f in FITS] == ["features", "learner"]  # one fold, then nothing


def test_ssl_sees_only_pool_items(tiny_text_encoder, toy_reviews, tmp_path, monkeypatch):
    """The SSL method is handed the pool and nothing labelled, in every fold; fed a pool
    that includes the labelled texts (the leaking variant), the canary reports them."""
    from automl.components.pretrain.base import SSL_METHODS

    X, labels = toy_reviews
    y = (labels == "pos").astype(int)
    rng = np.random.default_rng(1)
    words = "a the film movie plot great good dull boring lovely story acting awful funny warm".split()
    pool = np.array([" ".join(rng.choice(words, 6)) for _ in range(40)], dtype=object)
    prof = profile_dataset(Dataset(Modality.TEXT, X, labels, "toy", unlabelled=pool))
    plan = make_fold_plan(y, 4, 0, prof)
    plan = replace(plan, test_folds=plan.test_folds[: plan.n_splits], n_repeats=1)
    seen: list[list[str]] = []
    info = SSL_METHODS.get("mlm")

    def spy(model, tokenizer, texts, *args, **kwargs):
        seen.append([str(t) for t in texts])
        return info.train(model, tokenizer, texts, *args, **kwargs)

    monkeypatch.setitem(SSL_METHODS._items, "mlm", replace(info, train=spy))
    spec = PipelineSpec(
        ComponentSpec("logreg", {"C": 1.0}),
        ComponentSpec(
            "text_embed",
            {"encoder": tiny_text_encoder, "max_length": 64, "ssl.method": "mlm", "ssl.epochs": 1},
        ),
    )

    def labelled_seen(pool_given, cache) -> set[str]:
        seen.clear()
        run_cv(spec, X, y, plan, prof, Runtime(cache_dir=str(cache), unlabelled=pool_given))
        assert seen, "the SSL method was not called"
        return {t for texts in seen for t in texts} & {str(t) for t in X}

    assert labelled_seen(pool, tmp_path / "a") == set()
    assert labelled_seen(np.concatenate([pool, X]), tmp_path / "b")  # the canary can fail


def test_every_ensemble_member_refits_with_the_pool(tmp_path):
    """The refit of an ensemble hands each member the search's runtime, unlabelled pool
    included: an SSL or pseudo-labelled member needs it to refit. (Without the ensemble's own
    runtime its members were cloned under the default one and lost the pool.)"""
    from automl.data.dataset import Modality as M
    from automl.export.refit import refit_and_save

    POOLS.clear()
    register(
        ComponentInfo(
            "pool_recorder",
            "learner",
            "records the pool it is given",
            frozenset(M),
            lambda p: {},
            lambda params, ctx: PoolRecorder(),
            lambda p: {},
        )
    )
    try:
        X, y, pool, prof, _ = table()
        ctx = BuildContext(prof, runtime=Runtime(unlabelled=pool))
        specs = [PipelineSpec(ComponentSpec("pool_recorder")), PipelineSpec(ComponentSpec("pool_recorder"))]
        refit_and_save(specs, [0.5, 0.5], X, y, ctx, tmp_path / "model", {})
    finally:
        LEARNERS.unregister("pool_recorder")
    assert POOLS == [len(pool), len(pool)]
