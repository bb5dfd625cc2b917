"""What ships, and an honest estimate of how good it is.

With 8-20 labels per class every CV score is noisy, and the best of many noisy scores is
optimistic: a search that tried 30 TF-IDF variants on 32 sentences found one at 0.85 CV that
scored 0.53 on held-out text, and an ensemble picked on the same out-of-fold predictions that
ranked the trials showed 0.78 and scored 0.70. So the choice of what ships is itself
cross-validated, at no training cost, on the trials' stored out-of-fold predictions:

- Every complete trial keeps the out-of-fold probabilities of the first CV repeat, one
  partition of the rows that all trials (the expensive ones too) are scored on.
- A selection *rule* maps those predictions on some rows to what ships: the single best trial,
  the best trial of the strategy family whose best is least inflated by the number of its
  trials (Tibshirani & Tibshirani, 2009), or a greedy ensemble (Caruana et al., 2004).
- Bootstrap bias-corrected CV (BBC-CV; Tsamardinos et al., 2018) estimates each rule: on
  every bootstrap resample of the rows the rule chooses using the in-bag rows only, and its
  choice is scored on the out-of-bag rows. The mean over resamples estimates the score of the
  model the rule ships, selection included; its spread is the estimate's uncertainty.
- Rules run on two scopes of candidates when some trials read the unlabelled pool: those that
  do not, and all of them. The simple choices (a single pipeline that does not read the pool)
  are the default; the best of them ships unless a more complex one (an ensemble, or a
  pipeline trained on the pool) estimates higher and scores higher on at least ``GATE`` of
  the resamples where the two differ, paired on the same rows: a pool or an ensemble adds
  options, and on a tie or a coin flip the simple choice stays.
- Bootstrapping rows cannot see the luck of the partition itself: every row's out-of-fold
  prediction of a trial comes from the same draw of folds, so a rule that picks the trial
  (or weights the ensemble) that the first repeat's partition happened to favour is
  optimistic however the rows are resampled. Trials scored on more repeats (the cheap ones)
  escape it: the rules choose on the first repeat's predictions and the choice is scored on
  the second repeat's, another partition. An ensemble whose members' errors cancelled only
  on the first partition then shows it. Trials scored on one repeat (the expensive ones) are
  scored on it, less the luck measured where it can be (none for them: zero).
- The chosen rule is applied to all rows; its estimate is what the search reports for the
  model that ships.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import optuna

from automl.data.splits import FoldPlan
from automl.pipeline.metrics import METRICS, MetricInfo, score_many
from automl.space.spec import PipelineSpec

# Resamples: the estimate's own Monte-Carlo error is ~std/10, under half a point for the 3-5
# point spreads of few-label data; 150 trials then take seconds, not tens of seconds.
N_BOOTSTRAP = 100
ENSEMBLE_CANDIDATES = 15  # the best trials an ensemble may draw from
ENSEMBLE_ROUNDS = 25  # greedy additions (with replacement): weights in steps of 1/25
INTERVAL = (10, 90)  # percentiles of the bootstrap scores shown as the estimate's range
SHORTLIST = 40  # candidates the rules choose among (the best by CV, plus every family's best)
# A complex choice must win on this share of the resamples where it differs from the simple
# one. Chosen by nested splits of the train splits' out-of-fold predictions (choose on 63% of
# the rows, score on the rest; benchmarks/bench_selection.py) over 24 five-minute searches,
# cifar10-few, sst2-few, trec-few and fsdd-few, with and without their pools, 3 seeds: 0.5
# scored 0.7104, 0 (ship whatever estimates highest) 0.7103, 0.7 0.7096, 0.8 0.7088, 0.9
# 0.7070, never 0.7065. Stricter gates gave up more than they saved; 0.5 keeps the simple
# choice on ties and on a coin flip.
GATE = 0.5
# What greedy ensemble selection climbs: "metric" (the search's metric, ties to the lower log
# loss) or "log_loss" (a proper scoring rule: on a few dozen rows accuracy moves in steps of one
# row, and the climb adds whichever member flips one, an overconfident one included). Chosen on
# train only (benchmarks/bench_selection.py --objectives, nested splits of the out-of-fold
# predictions of 24 ten-minute searches: cifar10-few, fsdd-few, sst2-few, trec-few, with and
# without their pools, 3 seeds): the log loss scored 0.7707 on the held-out rows against
# 0.7681, better on 12 searches and worse on 5 (sst2-few +1.0 points, 5 better, 0 worse;
# trec-few the same choices; cifar10-few and fsdd-few +0.04, 7 better, 5 worse).
ENSEMBLE_OBJECTIVE = "log_loss"


@dataclass(frozen=True)
class Candidate:
    number: int  # the Optuna trial
    family: str  # learner, featuriser and semi-supervised method: one strategy
    oof: np.ndarray  # [n, K] out-of-fold probabilities of the first repeat
    cv: float  # the trial's own CV mean (all its folds)
    # False when a fold's learner was stopped by its time limit: the refit trains longer than
    # the folds did, so ``oof`` does not describe the model an ensemble would hold.
    as_refit: bool = True
    pooled: bool = False  # trained on the unlabelled pool (pseudo-labels or SSL weights)
    # Mean score of the first repeat's folds minus the mean of all folds (0 with one repeat):
    # how lucky the partition behind ``oof`` was for this trial.
    luck: float = 0.0
    # [n, K] out-of-fold probabilities of the second repeat, when the trial ran it: what a
    # choice made on ``oof`` is scored on, so the first partition's luck does not count twice.
    second: np.ndarray | None = None


@dataclass(frozen=True)
class RuleEstimate:
    rule: str
    mean: float  # bootstrap bias-corrected estimate of the shipped model's score
    std: float  # spread over bootstrap resamples
    low: float
    high: float
    scores: np.ndarray | None = None  # per resample, paired across rules (same seed)
    # Share of the resamples where this complex choice differs from the simple one on which
    # it scores higher (None for the simple choices themselves).
    wins: float | None = None
    luck: float = 0.0  # mean first-repeat luck of the resamples' choices, already subtracted

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("rule", "mean", "std", "low", "high")}
        if self.wins is not None:
            out["wins"] = self.wins
        if self.luck:
            out["luck"] = self.luck
        return out


@dataclass(frozen=True)
class Selection:
    rule: str
    members: tuple[int, ...]  # trial numbers
    weights: tuple[float, ...]
    estimate: RuleEstimate | None  # None: no out-of-fold predictions to estimate with
    rules: tuple[RuleEstimate, ...]  # every rule's estimate, the chosen one included
    oof: np.ndarray | None  # the shipped model's out-of-fold probabilities (all rows)
    rescored: int = 0  # shipped members whose score came from their second CV repeat

    @property
    def is_ensemble(self) -> bool:
        return len(self.members) > 1


@dataclass(frozen=True)
class Pool:
    """The candidates as arrays, built once: every rule runs on hundreds of resamples."""

    probas: np.ndarray  # [T, n, K] out-of-fold probabilities
    families: tuple[str, ...]
    groups: tuple[np.ndarray, ...]  # candidate indices of each family
    blendable: np.ndarray  # [T] bool: may be an ensemble member (see Candidate.as_refit)
    pooled: np.ndarray  # [T] bool: trained on the unlabelled pool
    luck: np.ndarray  # [T] first-repeat luck of the candidates scored on the first repeat
    scoring: np.ndarray  # [T, n, K] what a choice is scored on: the second repeat, else the first

    @classmethod
    def of(cls, cands: list[Candidate]) -> Pool:
        return cls.build(
            np.stack([c.oof for c in cands]),
            tuple(c.family for c in cands),
            np.array([c.as_refit for c in cands], dtype=bool),
            np.array([c.pooled for c in cands], dtype=bool),
            # A candidate scored on its second repeat carries none of the first one's luck.
            np.array([0.0 if c.second is not None else c.luck for c in cands], dtype=float),
            np.stack([c.oof if c.second is None else c.second for c in cands]),
        )

    @classmethod
    def build(
        cls,
        probas: np.ndarray,
        families: tuple[str, ...],
        blendable: np.ndarray,
        pooled: np.ndarray,
        luck: np.ndarray,
        scoring: np.ndarray,
    ) -> Pool:
        names = sorted(set(families))
        groups = tuple(np.array([i for i, f in enumerate(families) if f == name]) for name in names)
        return cls(probas, families, groups, blendable, pooled, luck, scoring)

    def subset(self, index: np.ndarray) -> Pool:
        return Pool.build(
            self.probas[index],
            tuple(self.families[i] for i in index),
            self.blendable[index],
            self.pooled[index],
            self.luck[index],
            self.scoring[index],
        )

    def __len__(self) -> int:
        return len(self.families)


Rule = Callable[[Pool, np.ndarray, np.ndarray, np.ndarray, MetricInfo], np.ndarray]


def rule_best(
    pool: Pool, y: np.ndarray, rows: np.ndarray, folds: np.ndarray, metric: MetricInfo
) -> np.ndarray:
    """The single trial that scores best on ``rows``."""
    scores = metric.sign * score_many(metric, y[rows], pool.probas[:, rows])
    return _one_hot(len(pool), int(np.argmax(scores)))


def rule_family(
    pool: Pool, y: np.ndarray, rows: np.ndarray, folds: np.ndarray, metric: MetricInfo
) -> np.ndarray:
    """The best trial of the family whose best score, corrected for how many trials the family
    ran, is highest. The correction (Tibshirani & Tibshirani, 2009) is the mean over folds of
    how far each fold's best trial beats the family's chosen one on that fold: zero for a
    family of one trial, large for thirty near-equal variants fitting each fold's noise."""
    per_fold = _fold_scores(pool.probas, y, rows, folds, metric)  # [T, F], higher is better
    best_index, best_value = 0, -np.inf
    for members in pool.groups:
        scores = per_fold[members]
        scores = scores[:, np.isfinite(scores).any(0)]  # folds none of the family scored
        if not np.isfinite(scores).any():
            continue
        means = np.nanmean(scores, 1)
        chosen = int(np.nanargmax(means))
        bias = np.nanmean(np.nanmax(scores, 0) - scores[chosen])
        if means[chosen] - bias > best_value:
            best_index, best_value = int(members[chosen]), float(means[chosen] - bias)
    return _one_hot(len(pool), best_index)


def rule_ensemble(
    pool: Pool, y: np.ndarray, rows: np.ndarray, folds: np.ndarray, metric: MetricInfo
) -> np.ndarray:
    """Greedy ensemble selection with replacement over the best candidates on ``rows``; ties
    (common with accuracy on few rows) go to the lower log loss. Its weights are fitted to the
    members' out-of-fold predictions, so only trials whose folds trained as their refit will
    are members; without any, the rule is the single best trial."""
    target = y[rows]
    keys_of = _keys if ENSEMBLE_OBJECTIVE == "metric" else _log_loss_keys
    key = keys_of(metric, target, pool.probas[:, rows])
    if not pool.blendable.any():
        return _one_hot(len(pool), int(np.argmax(key)))
    ranked = np.argsort(-key)
    top = ranked[pool.blendable[ranked]][:ENSEMBLE_CANDIDATES]
    probas = pool.probas[top][:, rows]
    counts = np.zeros(len(pool))
    counts[top[0]] = 1
    total = probas[0].copy()
    chosen, current = counts.copy(), key[top[0]]
    for _ in range(ENSEMBLE_ROUNDS - 1):
        trial = (total[None] + probas) / (counts.sum() + 1)
        keys = keys_of(metric, target, trial)
        j = int(np.argmax(keys))
        counts[top[j]] += 1
        total += probas[j]
        if keys[j] > current:  # keep the best ensemble seen; later additions can overshoot
            chosen, current = counts.copy(), keys[j]
    return chosen / chosen.sum()


RULES: dict[str, Rule] = {"best": rule_best, "family": rule_family, "ensemble": rule_ensemble}
SINGLE_RULES = ("best", "family")  # the rules that ship one pipeline
POOL_SUFFIX = "+pool"  # a rule that may choose pipelines trained on the unlabelled pool


@dataclass(frozen=True)
class Option:
    """A rule on a scope of candidates: without the pool's pipelines, or with them."""

    rule: str
    pooled: bool

    @property
    def name(self) -> str:
        return self.rule + (POOL_SUFFIX if self.pooled else "")

    @property
    def simple(self) -> bool:
        return self.rule != "ensemble" and not self.pooled


def options(pool: Pool, rules: tuple[str, ...]) -> list[Option]:
    """Every rule without the pool's pipelines, then (when some but not all candidates read
    the pool) every rule with them. Without a mix there is one scope: all candidates."""
    mixed = pool.pooled.any() and not pool.pooled.all()
    out = [Option(r, pooled=not mixed and bool(pool.pooled.all())) for r in rules]
    if mixed:
        out += [Option(r, pooled=True) for r in rules]
    return out


@dataclass(frozen=True)
class Chooser:
    """Applies options to a pool: the labelled-only scope is built once, not per resample."""

    pool: Pool
    labelled: np.ndarray  # indices of the candidates that do not read the pool
    scoped: Pool

    @classmethod
    def of(cls, pool: Pool) -> Chooser:
        labelled = np.flatnonzero(~pool.pooled)
        return cls(pool, labelled, pool.subset(labelled) if len(labelled) else pool)

    def weights(
        self, option: Option, y: np.ndarray, rows: np.ndarray, *, folds: np.ndarray, metric: MetricInfo
    ) -> np.ndarray:
        rule = RULES[option.rule]
        if option.pooled or len(self.labelled) in (0, len(self.pool)):
            return rule(self.pool, y, rows, folds, metric)
        out = np.zeros(len(self.pool))
        out[self.labelled] = rule(self.scoped, y, rows, folds, metric)
        return out


def candidates(trials: list[optuna.trial.FrozenTrial], n_splits: int = 0) -> list[Candidate]:
    """The complete trials that kept out-of-fold predictions; ``n_splits`` (the folds of one
    repeat) lets each measure its first repeat's luck from its fold scores."""
    out = []
    for t in trials:
        if t.state != optuna.trial.TrialState.COMPLETE or "oof" not in t.user_attrs:
            continue
        spec = PipelineSpec.from_dict(t.user_attrs["spec"])
        family = " + ".join(c.name for c in (spec.semi, spec.features, spec.learner) if c is not None)
        out.append(
            Candidate(
                t.number,
                family,
                np.asarray(t.user_attrs["oof"], dtype=float),
                float(t.value if t.value is not None else np.nan),
                as_refit=not t.user_attrs.get("time_stopped", False),
                pooled=spec.uses_pool(),
                luck=first_repeat_luck(t.user_attrs.get("fold_scores") or [], n_splits),
                second=np.asarray(t.user_attrs["oof_second"], dtype=float)
                if "oof_second" in t.user_attrs
                else None,
            )
        )
    return out


def first_repeat_luck(fold_scores: list[float], n_splits: int) -> float:
    """How far the first repeat's mean fold score lies from the mean over all repeats; 0 when
    the trial was scored on one repeat (or less), so there is nothing to compare with."""
    scores = np.asarray(fold_scores, dtype=float)
    if n_splits < 1 or len(scores) < 2 * n_splits or not np.isfinite(scores).all():
        return 0.0
    return float(scores[:n_splits].mean() - scores.mean())


def shortlist(cands: list[Candidate], metric: MetricInfo, size: int = SHORTLIST) -> list[Candidate]:
    """The ``size`` best candidates by their own CV, plus the best of every family: a rule
    cannot pick a trial far down the ranking, and hundreds of them would make every bootstrap
    resample slow. (The cut itself is made on all rows, a small optimism the bootstrap does
    not see; with ``size`` above the families' best few it rarely changes what ships.)"""
    ranked = sorted(cands, key=lambda c: metric.sign * c.cv, reverse=True)
    keep = ranked[:size]
    for c in ranked[size:]:
        if c.family not in {k.family for k in keep}:
            keep.append(c)
    return keep


def first_repeat_folds(plan: FoldPlan) -> np.ndarray:
    """The fold (0..k-1) that validates each row in the first repeat."""
    folds = np.full(plan.n_rows, -1)
    for i in range(plan.n_splits):
        folds[plan.test_folds[i]] = i
    return folds


def select(
    trials: list[optuna.trial.FrozenTrial],
    y: np.ndarray,
    plan: FoldPlan,
    metric: MetricInfo,
    rules: tuple[str, ...] = tuple(RULES),
    n_boot: int = N_BOOTSTRAP,
    seed: int = 0,
    gate: float = GATE,
) -> Selection | None:
    """Estimate every option by BBC-CV and apply the chosen one to all rows; None when fewer
    than two trials kept out-of-fold predictions (the caller ships the best trial as it is)."""
    cands = shortlist(candidates(trials, plan.n_splits), metric)
    if len(cands) < 2:
        return None
    y = np.asarray(y, dtype=int)
    folds = first_repeat_folds(plan)
    pool = Pool.of(cands)
    rows = np.arange(len(y))
    option, weights, estimates = choose(pool, y, folds, metric, rows, rules, n_boot, seed, gate)
    keep = np.flatnonzero(weights > 0)
    return Selection(
        option.name,
        tuple(cands[i].number for i in keep),
        tuple(float(weights[i]) for i in keep),
        next(e for e in estimates if e.rule == option.name),
        tuple(estimates),
        np.tensordot(weights, pool.probas, axes=1),
        sum(cands[i].second is not None for i in keep),
    )


def choose(
    pool: Pool,
    y: np.ndarray,
    folds: np.ndarray,
    metric: MetricInfo,
    rows: np.ndarray,
    rules: tuple[str, ...] = tuple(RULES),
    n_boot: int = N_BOOTSTRAP,
    seed: int = 0,
    gate: float = GATE,
) -> tuple[Option, np.ndarray, list[RuleEstimate]]:
    """The option that ships when only ``rows`` are known, its weights on those rows, and
    every option's estimate (complex ones with their paired win rate over the simple choice)."""
    chooser = Chooser.of(pool)
    opts = options(pool, rules)
    estimates = estimate_options(chooser, opts, y, folds, metric, rows, n_boot, seed)
    chosen, estimates = decide(opts, estimates, metric, gate)
    return opts[chosen], chooser.weights(opts[chosen], y, rows, folds=folds, metric=metric), estimates


def estimate_options(
    chooser: Chooser,
    opts: list[Option],
    y: np.ndarray,
    folds: np.ndarray,
    metric: MetricInfo,
    rows: np.ndarray,
    n_boot: int = N_BOOTSTRAP,
    seed: int = 0,
) -> list[RuleEstimate]:
    """BBC-CV of every option on the same resamples of ``rows``."""
    return [
        _bbc(
            partial(chooser.weights, o, y, folds=folds, metric=metric),
            chooser.pool.scoring,
            y,
            rows,
            metric,
            n_boot,
            seed,
            o.name,
            chooser.pool.luck,
        )
        for o in opts
    ]


def decide(
    opts: list[Option], estimates: list[RuleEstimate], metric: MetricInfo, gate: float = GATE
) -> tuple[int, list[RuleEstimate]]:
    """The simple option with the best estimate, unless a complex one estimates higher and
    wins on at least ``gate`` of the resamples where the two differ (the best such one)."""
    simple = [i for i, o in enumerate(opts) if o.simple] or list(range(len(opts)))
    base = max(simple, key=lambda i: (round(metric.sign * estimates[i].mean, 6), -i))
    chosen, out = base, list(estimates)
    contenders = sorted(
        (i for i in range(len(opts)) if i not in simple), key=lambda i: -metric.sign * estimates[i].mean
    )
    for i in contenders:
        wins = _win_rate(estimates[i], estimates[base], metric)
        out[i] = replace(estimates[i], wins=wins)
        better = metric.sign * (estimates[i].mean - estimates[base].mean) > 1e-6
        if chosen == base and better and wins is not None and wins >= gate:
            chosen = i
    return chosen, out


def _bbc(
    choose_on: Callable[[np.ndarray], np.ndarray],
    probas: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    metric: MetricInfo,
    n_boot: int,
    seed: int,
    name: str,
    luck: np.ndarray,
) -> RuleEstimate:
    """BBC-CV: choose on each bootstrap's in-bag rows (drawn from ``rows``), score the choice
    on the rows of ``rows`` left out with ``probas`` (the candidates' second-repeat
    predictions where they have them), less the first-repeat ``luck`` of candidates scored on
    the first repeat (the module docstring says why). The same seed gives every option the
    same resamples."""
    rng = np.random.default_rng(seed)
    scores, lucks = [], []
    for _ in range(n_boot):
        inbag = rows[rng.integers(0, len(rows), len(rows))]
        out = np.setdiff1d(rows, inbag)
        if len(out) == 0 or len(np.unique(y[inbag])) < 2:
            scores.append(np.nan)  # kept, so resamples stay paired across options
            continue
        weights = choose_on(inbag)
        shipped = np.tensordot(weights, probas[:, out], axes=1)
        lucks.append(float(weights @ luck))
        scores.append(float(score_many(metric, y[out], shipped[None])[0]) - lucks[-1])
    values = np.asarray(scores)
    kept = values[np.isfinite(values)]
    low, high = np.percentile(kept, INTERVAL)
    mean_luck = float(np.mean(lucks)) if lucks else 0.0
    return RuleEstimate(
        name, float(kept.mean()), float(kept.std()), float(low), float(high), values, luck=mean_luck
    )


def _win_rate(complex_: RuleEstimate, simple: RuleEstimate, metric: MetricInfo) -> float | None:
    """Share of the resamples where the two choices score differently on which the complex
    one scores higher; None when they never differ."""
    assert complex_.scores is not None and simple.scores is not None
    d = metric.sign * (complex_.scores - simple.scores)
    d = d[np.isfinite(d)]
    differ = np.abs(d) > 1e-12
    if not differ.any():
        return None
    return float((d > 1e-12).sum() / differ.sum())


def _one_hot(n: int, i: int) -> np.ndarray:
    out = np.zeros(n)
    out[i] = 1.0
    return out


def _log_loss_keys(metric: MetricInfo, y: np.ndarray, probas: np.ndarray) -> np.ndarray:
    """Higher is better: minus the log loss."""
    return -score_many(METRICS.get("log_loss"), y, probas)


def _keys(metric: MetricInfo, y: np.ndarray, probas: np.ndarray) -> np.ndarray:
    """Higher is better: the metric, then (for ties) the lower log loss. Metric differences on
    n rows are at least 1/n, far above the 1e-6 weight given to the log loss."""
    primary = metric.sign * score_many(metric, y, probas)
    if metric.name == "log_loss":
        return primary
    return primary - 1e-6 * score_many(METRICS.get("log_loss"), y, probas)


def _fold_scores(
    probas: np.ndarray, y: np.ndarray, rows: np.ndarray, folds: np.ndarray, metric: MetricInfo
) -> np.ndarray:
    """[T, k] scores (higher is better) of each candidate on the rows of each first-repeat
    fold; NaN for a fold with no rows among ``rows``."""
    k = int(folds.max()) + 1
    out = np.full((len(probas), k), np.nan)
    for f in range(k):
        here = rows[folds[rows] == f]
        if len(here):
            out[:, f] = metric.sign * score_many(metric, y[here], probas[:, here])
    return out
