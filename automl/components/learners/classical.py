"""Classical learners on a feature matrix: the fallback that often wins on small data."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from automl.components.availability import has_modules
from automl.components.base import ALL_MODALITIES, BuildContext, ComponentInfo, defaults_of, register
from automl.components.runtime import TimeLimit, UsesRuntime
from automl.data.dataset import Modality
from automl.data.profile import IMBALANCED, PER_CLASS, DataProfile
from automl.data.splits import inner_split
from automl.space.domains import CategoricalDomain, Conditional, FloatDomain, IntDomain

# -- dummy: the floor every real model must beat ---------------------------------------------
register(
    ComponentInfo(
        name="dummy",
        kind="learner",
        summary="predicts the class prior (the baseline to beat)",
        modalities=ALL_MODALITIES,
        consumes="raw",  # ignores X, so it needs no (possibly expensive) featuriser
        space=lambda p: {},
        build=lambda params, ctx: DummyClassifier(strategy="prior"),
        defaults=lambda p: {},
        cost=0,
    )
)


# -- regularised logistic regression -----------------------------------------------------------
def default_class_weight(profile: DataProfile) -> str:
    """The start point's class weighting for linear models: balanced unless the counts look
    like the classes' real priors (between PER_CLASS and IMBALANCED).

    Labels gathered a fixed number per class carry no prior to learn, and an unweighted
    intercept learns their sampling noise. In a CV fold of 8-per-class data the training part
    holds one more item of the classes the held-out part holds fewer of, so a strongly
    regularised model, whose predictions follow its intercept, predicts the held-out part's
    minority: below chance. Measured on `train` only (`probe` on frozen embeddings, fitted on
    a half per class, scored on the other half, 30 draws): with equal counts the fitted model
    is the same either way, and its CV on the half rises from 0.586 to 0.630 (sst2-few, mpnet)
    and from 0.444 to 0.536 (MiniLM), closer to the other half's 0.731 and 0.571. With one
    class a label short, balanced weighting scores +4.5 and +5.5 points on the other half
    (sst2-few) and +1.7 and +0.8 (trec-few, mpnet and MiniLM). Past IMBALANCED the default
    metric is balanced accuracy, which weighting matches."""
    return "none" if PER_CLASS < profile.imbalance <= IMBALANCED else "balanced"


def _logreg_space(profile: DataProfile) -> dict:
    # Sparsity picks coordinates, and a frozen image embedding's coordinates are arbitrary (the
    # same argument as for trees, see _xgb_suits): with fewer images than dimensions only l2 is
    # offered. 4-fold CV (2 repeats) on cifar10-few's train split, Lite0 128 px embeddings, C in
    # 0.03-30: l1 at best 0.565 and elastic net (ratio 0.5) at best 0.635 against the probe's
    # 0.655, with saga fits of 2-29 s against 0.15 s; in 5-minute searches l1 and elastic-net
    # trials on augmented views ran into the per-trial cap (61-80 s of 300) three times in three.
    sparse = () if _fewer_images_than_dimensions(profile) else ("l1", "elasticnet")
    return {
        "C": FloatDomain(1e-4, 1e3, log=True),
        "penalty": CategoricalDomain(("l2", *sparse)),
        "l1_ratio": Conditional(FloatDomain(0.05, 0.95), "penalty", ("elasticnet",)),
        "class_weight": CategoricalDomain(("none", "balanced")),
    }


# The solver of L2 logistic regression. The optimum is the same whatever the solver; Newton-CG
# (Hessian-free Newton) reaches it in 10-20 iterations where L-BFGS needs hundreds on features
# of mixed scales. Probe 5-fold CV on train, the C path included: fsdd-few MFCC statistics
# (c0 in the hundreds, deltas in hundredths) 2.7 s vs 20.2 s, the first trial of an fsdd-few
# search 44 s with L-BFGS; MiniLM on sst2-few/trec-few 0.2-0.3 s vs 0.3-0.4 s, Lite0
# embeddings of cifar10-few 0.8 s vs 1.3 s; the same C chosen in every fold, the same accuracy.
# On a large standardised table it is the slower one (20,000 x 50, 5 classes: 0.24 s vs 0.16 s
# a fit), a price in tenths of a second against tens of seconds.
L2_SOLVER = "newton-cg"

# Epochs per saga call: about a second on 200 x 1,280 embeddings with 10 classes, the
# longest a deadline then waits.
SAGA_CHUNK = 100


class SteppedLogisticRegression(LogisticRegression):
    """LogisticRegression whose saga solves run ``SAGA_CHUNK`` epochs per call, warm-started,
    until converged or ``max_iter``. A deadline is a signal, and Python handles signals only
    between C calls: one 5,000-epoch saga call (l1, C=66, Lite2 embeddings of cifar10-few) held
    a search 53 s past its hard deadline. Between chunks the deadline can stop it.

    A sparse penalty (``l1_ratio > 0``) weighs the coefficients of standardised features, as
    glmnet does by default: an l1 penalty on raw features favours whichever feature happens to
    have the largest scale (proline in the hundreds next to hues near 1), and saga, whose step
    is set by the largest row norm, crawls on them. The fitted ``coef_`` and ``intercept_`` are
    mapped back to the raw features, so predicting needs no scaler. A sparse matrix (TF-IDF,
    rows of unit norm) is fitted as it is: centring would densify it."""

    def fit(self, X, y, sample_weight=None):
        if not self.l1_ratio or issparse(X):
            return self._solve(X, y, sample_weight)
        X = np.asarray(X, dtype=float)
        mean, scale = X.mean(axis=0), X.std(axis=0)
        scale[scale <= 1e-12 * max(1.0, float(np.max(np.abs(mean), initial=0.0)))] = 1.0  # constant
        if self.warm_start and hasattr(self, "coef_"):  # a warm start begins in the scaled space
            self.intercept_ = self.intercept_ + self.coef_ @ mean
            self.coef_ = self.coef_ * scale
        self._solve((X - mean) / scale, y, sample_weight)
        self.coef_ = self.coef_ / scale
        self.intercept_ = self.intercept_ - self.coef_ @ mean
        return self

    def _solve(self, X, y, sample_weight=None):
        if self.solver != "saga" or self.max_iter <= SAGA_CHUNK:
            return super().fit(X, y, sample_weight)
        total, warm = self.max_iter, self.warm_start
        if not warm:  # a refit starts from zero, as the plain estimator does
            for name in ("coef_", "intercept_"):
                self.__dict__.pop(name, None)
        self.max_iter, self.warm_start, done = SAGA_CHUNK, True, 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                while True:
                    super().fit(X, y, sample_weight)
                    step = int(np.max(self.n_iter_))
                    done += step
                    if step < SAGA_CHUNK or done >= total:
                        break
        finally:
            self.max_iter, self.warm_start = total, warm
        self.n_iter_ = np.full_like(self.n_iter_, done)
        if done >= total:
            warnings.warn(f"saga did not converge in {total} epochs", ConvergenceWarning, stacklevel=2)
        return self


def _build_logreg(params: dict[str, Any], ctx: BuildContext) -> LogisticRegression:
    penalty = params.get("penalty", "l2")
    # l1_ratio expresses the penalty in current scikit-learn (0 = l2, 1 = l1); saga handles all.
    ratio = {"l2": 0.0, "l1": 1.0}.get(penalty, params.get("l1_ratio", 0.5))
    return SteppedLogisticRegression(
        C=params.get("C", 1.0),
        l1_ratio=ratio,
        solver=L2_SOLVER if ratio == 0.0 else "saga",
        class_weight=None if params.get("class_weight", "none") == "none" else "balanced",
        max_iter=2000 if ratio == 0.0 else 5000,
        random_state=ctx.seed,
    )


register(
    ComponentInfo(
        name="logreg",
        kind="learner",
        summary="regularised logistic regression (l2 / l1 / elastic net)",
        modalities=ALL_MODALITIES,
        space=_logreg_space,
        build=_build_logreg,
        defaults=lambda p: {
            "C": 1.0,
            "penalty": "l2",
            "l1_ratio": 0.5,
            "class_weight": default_class_weight(p),
        },
        cost=0,
    )
)


# -- a probe that tunes its own regularisation ----------------------------------------------
class ProbeClassifier(ClassifierMixin, BaseEstimator):
    """L2 logistic regression whose C is chosen inside the training fold: inner stratified CV
    over a warm-started path from strong to weak regularisation, by held-out log loss (on a few
    dozen rows accuracy ties across most of the path; log loss still ranks it).

    One trial of it does what eight trials of ``logreg`` at different C values would, for the
    cost of about three fits (each step of the path starts from the previous solution).
    """

    def __init__(
        self,
        class_weight: str = "none",
        n_cs: int = 8,
        c_low: float = 1e-3,
        c_high: float = 1e2,
        inner_folds: int = 3,
        seed: int = 0,
    ):
        self.class_weight = class_weight
        self.n_cs = n_cs
        self.c_low = c_low
        self.c_high = c_high
        self.inner_folds = inner_folds
        self.seed = seed

    def _model(self, C: float, warm: bool = False) -> LogisticRegression:
        return LogisticRegression(
            C=C,
            solver=L2_SOLVER,
            warm_start=warm,
            max_iter=1000 if warm else 2000,
            class_weight=None if self.class_weight == "none" else "balanced",
        )

    def fit(self, X, y, sample_weight=None):
        from sklearn.model_selection import StratifiedKFold

        X = self._dense(X)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        # With fewer rows than features (200 images, 1280-d embeddings) the L2 solution lies in
        # the span of the rows: fitting on their coordinates in that span gives the same
        # predictions at a fraction of the cost (rank <= rows). X alone decides the span, so no
        # label reaches it.
        self.components_ = None
        if X.shape[1] > X.shape[0]:
            _, sv, vt = np.linalg.svd(X, full_matrices=False)
            self.components_ = vt[sv > sv[0] * 1e-10].T
        X = self._project(X)
        self.classes_, y_enc = np.unique(np.asarray(y), return_inverse=True)
        cs = np.logspace(np.log10(self.c_low), np.log10(self.c_high), self.n_cs)
        k = min(self.inner_folds, int(np.bincount(y_enc).min())) if len(cs) > 1 else 0
        losses = np.zeros(len(cs))
        if k >= 2:
            for tr, va in StratifiedKFold(k, shuffle=True, random_state=self.seed).split(X, y_enc):
                model = self._model(cs[0], warm=True)
                for j, C in enumerate(cs):
                    model.set_params(C=C).fit(X[tr], y_enc[tr], sample_weight=None if w is None else w[tr])
                    p = np.clip(model.predict_proba(X[va]), 1e-7, 1)
                    losses[j] -= np.log(p[np.arange(len(va)), y_enc[va]]).sum()
        self.C_ = float(cs[int(np.argmin(losses))]) if k >= 2 or len(cs) == 1 else 1.0
        self.model_ = self._model(self.C_).fit(X, y_enc, sample_weight=w)
        # What a refit on more rows of the same kind may keep instead of tuning again (a
        # pseudo-labelling round: C chosen on the true labels, not on the model's own guesses).
        self.tuned_params_ = {"c_low": self.C_, "c_high": self.C_, "n_cs": 1}
        return self

    @staticmethod
    def _dense(X) -> np.ndarray:
        return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)

    def _project(self, X: np.ndarray) -> np.ndarray:
        return X if self.components_ is None else X @ self.components_

    def predict_proba(self, X):
        return self.model_.predict_proba(self._project(self._dense(X)))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]


register(
    ComponentInfo(
        name="probe",
        kind="learner",
        summary="L2 logistic regression with C tuned inside the fold (a linear probe)",
        modalities=ALL_MODALITIES,
        space=lambda p: {"class_weight": CategoricalDomain(("none", "balanced"))},
        build=lambda params, ctx: ProbeClassifier(
            class_weight=params.get("class_weight", "none"), seed=ctx.seed
        ),
        defaults=lambda p: {"class_weight": default_class_weight(p)},
        cost=0,
    )
)


# -- extra trees: robust, nearly tuning-free on small tables ----------------------------------
register(
    ComponentInfo(
        name="extra_trees",
        kind="learner",
        summary="extremely randomised trees",
        modalities=ALL_MODALITIES,
        space=lambda p: {
            "n_estimators": IntDomain(50, 500, log=True),
            "max_features": CategoricalDomain(("sqrt", "log2", "all")),
            "min_samples_leaf": IntDomain(1, 10),
            "class_weight": CategoricalDomain(("none", "balanced")),
        },
        build=lambda params, ctx: ExtraTreesClassifier(
            n_estimators=params.get("n_estimators", 200),
            max_features=None if params.get("max_features") == "all" else params.get("max_features", "sqrt"),
            min_samples_leaf=params.get("min_samples_leaf", 1),
            class_weight=None if params.get("class_weight", "none") == "none" else "balanced",
            # scikit-learn takes threads in the constructor; the only runtime value read at build.
            n_jobs=ctx.runtime.n_jobs,
            random_state=ctx.seed,
        ),
        defaults=lambda p: {
            "n_estimators": 200,
            "max_features": "sqrt",
            "min_samples_leaf": 1,
            "class_weight": "none",
        },
        cost=1,
    )
)


# -- XGBoost with early stopping on an inner split ---------------------------------------------
def _stop_at(limit: TimeLimit):
    """An XGBoost callback that stops adding trees once the fit's share of its limit is spent
    (made here: xgboost is imported only when a model is fitted)."""
    import xgboost as xgb

    class StopAtTimeLimit(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log) -> bool:
            return limit.out_of_time()

    return StopAtTimeLimit()


class XGBoostClassifier(UsesRuntime, ClassifierMixin, BaseEstimator):
    """XGBoost with the number of trees chosen by early stopping on an inner validation split.

    The inner split comes from the training fold only, so the outer CV score stays honest.
    Defaults: shallow, slow-learning, subsampled trees, a safe start on a few hundred rows.
    """

    def __init__(
        self,
        n_estimators: int = 500,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        min_child_weight: float = 1.0,
        reg_alpha: float = 1e-3,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 30,
        random_state: int = 0,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state

    def _model(self, n_estimators: int, early_stopping: int | None, limit: TimeLimit | None = None):
        import xgboost as xgb

        callbacks = [_stop_at(limit)] if limit is not None and limit.seconds is not None else None
        return xgb.XGBClassifier(
            callbacks=callbacks,
            n_estimators=n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            min_child_weight=self.min_child_weight,
            reg_alpha=self.reg_alpha,
            reg_lambda=self.reg_lambda,
            n_jobs=self.runtime.n_jobs,
            random_state=self.random_state,
            tree_method="hist",
            early_stopping_rounds=early_stopping,
            verbosity=0,
        )

    def fit(self, X, y):
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        tr, va = inner_split(y_enc, self.random_state, fraction=0.2, min_per_class=2)
        # The time limit is shared: the early-stopping pass gets half, the final fit the rest.
        limit = self.runtime.time_limit
        if self.early_stopping_rounds and len(va):
            probe = self._model(
                self.n_estimators, self.early_stopping_rounds, TimeLimit(None if limit is None else limit / 2)
            )
            probe.fit(X[tr], y_enc[tr], eval_set=[(X[va], y_enc[va])], verbose=False)
            try:
                self.best_n_estimators_ = int(probe.best_iteration) + 1
            except AttributeError:
                # The time limit stopped the pass before early stopping recorded a best round
                # (XGBoost runs the callbacks in turn and stops at the first that says stop).
                self.best_n_estimators_ = max(1, probe.get_booster().num_boosted_rounds())
        else:
            self.best_n_estimators_ = min(self.n_estimators, 100)
        self.model_ = self._model(self.best_n_estimators_, None, TimeLimit(limit))
        self.model_.fit(X, y_enc)
        return self

    def __getstate__(self):
        state = super().__getstate__()
        if "model_" in state:  # the time-limit callback is not part of a saved model
            state["model_"].set_params(callbacks=None)
        return state

    def predict_proba(self, X):
        proba = self.model_.predict_proba(np.asarray(X, dtype=np.float32))
        return proba if proba.ndim == 2 else np.column_stack([1 - proba, proba])

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _xgb_available() -> str | None:
    if not has_modules("xgboost"):
        return "xgboost is not installed: pip install xgboost-cpu"
    return None


def _xgb_space(profile: DataProfile) -> dict:
    return {
        "n_estimators": IntDomain(50, 2000, log=True),
        "learning_rate": FloatDomain(0.005, 0.3, log=True),
        "max_depth": IntDomain(1, 10),
        "subsample": FloatDomain(0.5, 1.0),
        "colsample_bytree": FloatDomain(0.3, 1.0),
        "min_child_weight": FloatDomain(0.1, 20.0, log=True),
        "reg_alpha": FloatDomain(1e-4, 10.0, log=True),
        "reg_lambda": FloatDomain(1e-3, 100.0, log=True),
    }


def _fewer_images_than_dimensions(profile: DataProfile) -> str | None:
    """On image data, where the features are frozen CNN embeddings: why the labelled images are
    too few for learners that work coordinate by coordinate, or None."""
    if profile.modality != Modality.IMAGE.value:
        return None
    from automl.components.images.backbones import narrowest_width

    width = narrowest_width()
    if width is None or profile.n_rows > width:
        return None
    return f"{profile.n_rows} labelled images are fewer than the {width} dimensions of the narrowest image embedding"


def _xgb_suits(profile: DataProfile) -> str | None:
    """Trees split one coordinate at a time; a frozen CNN embedding spreads what it knows over
    all of its (rotation-arbitrary) coordinates, and with fewer labelled images than coordinates
    a linear probe can fit any labelling the trees could. 4-fold CV (2 repeats) on cifar10-few's
    train split (200 images, EfficientNet-Lite0 128 px, 1280-d): XGBoost's defaults 0.540,
    depth 2 0.528, depth 6 on 30% of the columns 0.598, the tuned probe 0.655; a tree fit took
    5-14 s against the probe's 0.2 s (benchmarks/bench_trees_on_embeddings.py). Only images:
    their features are always such embeddings, while audio has MFCC statistics too. (On the
    text and speaker embeddings the same run gave trec-few 0.32-0.39 vs 0.604 and fsdd-few
    0.33-0.40 vs 0.562, but sst2-few 0.63-0.69 vs 0.547 on its 32 rows: no rule there.)"""
    why = _fewer_images_than_dimensions(profile)
    return f"{why}, where trees lose to the linear probe and cost 25-70x more" if why else None


register(
    ComponentInfo(
        name="xgboost",
        kind="learner",
        summary="gradient-boosted trees, trees chosen by early stopping",
        modalities=ALL_MODALITIES,
        space=_xgb_space,
        build=lambda params, ctx: XGBoostClassifier(random_state=ctx.seed, **params),
        defaults=lambda p: defaults_of(XGBoostClassifier, {k: k for k in _xgb_space(p)}),
        cost=1,
        available=_xgb_available,
        suits=_xgb_suits,
    )
)
