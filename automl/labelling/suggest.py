"""Which unlabelled items to label next (active learning), one registered strategy each.

With 8-20 labels per class, pure uncertainty picks near-copies of one confusing item and pure
diversity picks outliers; "margin_kcenter" and "badge" (Ash et al., ICLR 2020) take items that
are both uncertain and spread out; "typiclust" (Hacohen et al., ICML 2022) ignores the model's
uncertainty and takes the most typical item of each dense group of the pool that holds no label
yet, which is what pays when labels are this few (uncertainty needs a model worth trusting).
Whatever the strategy, an item already labelled (same key, or
an embedding within cosine 0.98 of a labelled one) is never suggested, and no two suggestions
are near-duplicates of each other: one label per look-alike group is all it is worth.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import pairwise_distances_argmin_min
from sklearn.neighbors import NearestNeighbors

from automl.exceptions import DataError
from automl.logger import log
from automl.registry import Registry

SIMILAR = 0.98  # cosine at/above which two items count as one (re-encodes, crops, retweets)
TYPICAL_NEIGHBOURS = 20  # typiclust: density from the 20 nearest neighbours, as in the paper
MAX_CLUSTERS = 500  # typiclust: k-means cost grows with k; the paper caps it at 500 too
SHORTLIST = 5  # margin_kcenter: the 5n most uncertain, then n spread-out picks among them
CHUNK = 4096  # pool rows per block when comparing with the labelled set (4096 x n_labelled)
CONFIDENT_MARGIN = 0.5  # top-two probability gap from which a pick is called confident in its "why"


@dataclass(frozen=True)
class Suggestion:
    index: int  # position in the pool arrays
    score: float  # the strategy's own score at pick time (higher = picked for more reason)
    predicted: int  # class index of the top probability
    confidence: float  # top probability
    margin: float  # top minus second probability
    why: str


class _Pool:
    """The usable pool and the picks so far; taking an item rules out its near-duplicates."""

    def __init__(
        self, proba: np.ndarray, emb: np.ndarray, labelled: np.ndarray, counts: np.ndarray | None
    ) -> None:
        self.proba, self.emb, self.counts, self.labelled = proba, emb, counts, labelled
        self.unit = _unit(emb)
        top2 = np.sort(proba, axis=1)[:, -2:]
        self.margin = top2[:, 1] - top2[:, 0]
        self.predicted = proba.argmax(axis=1)
        self.far = (
            pairwise_distances_argmin_min(emb, labelled)[1]
            if len(labelled) and len(emb)
            else np.full(len(emb), np.inf)
        )  # distance to the nearest labelled item
        self.free = np.ones(len(emb), dtype=bool)
        self.picks: list[tuple[int, float]] = []
        self.notes: dict[int, str] = {}  # a strategy's own reason for a pick, by pool position

    def take(self, i: int, score: float) -> None:
        self.picks.append((i, float(score)))
        self.free &= self.unit @ self.unit[i] < SIMILAR
        self.free[i] = False

    def take_in_order(self, order: np.ndarray, scores: np.ndarray, n: int) -> None:
        for i in order.tolist():
            if len(self.picks) >= n:
                return
            if self.free[i]:
                self.take(i, scores[i])


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    summary: str
    select: Callable[[_Pool, int, np.random.Generator], None]
    uncertainty: bool = False  # explain picks by their margin
    diversity: bool = False  # explain picks by their distance to the labelled set
    balance: bool = False  # needs class_counts


def _margin(pool: _Pool, n: int, rng: np.random.Generator) -> None:
    pool.take_in_order(np.argsort(pool.margin, kind="stable"), 1.0 - pool.margin, n)


def _entropy(pool: _Pool, n: int, rng: np.random.Generator) -> None:
    p = np.clip(pool.proba, 1e-12, 1.0)
    ent = -np.sum(p * np.log(p), axis=1)
    pool.take_in_order(np.argsort(-ent, kind="stable"), ent, n)


def _random(pool: _Pool, n: int, rng: np.random.Generator) -> None:
    pool.take_in_order(rng.permutation(len(pool.emb)), np.zeros(len(pool.emb)), n)


def _kcenter(pool: _Pool, n: int, rng: np.random.Generator, among: np.ndarray | None = None) -> None:
    """Greedy k-center (Sener & Savarese, 2018): each pick is the item farthest from every
    labelled item and earlier pick, so n picks cover the pool's spread."""
    dist = pool.far.copy()
    for i, _ in pool.picks:
        dist = np.minimum(dist, np.linalg.norm(pool.emb - pool.emb[i], axis=1))
    allowed = np.ones(len(dist), dtype=bool) if among is None else among
    while len(pool.picks) < n:
        cand = np.flatnonzero(pool.free & allowed)
        if not cand.size:
            return
        if np.all(np.isinf(dist[cand])):  # nothing labelled yet: start at the most central item
            centre = pool.emb[cand].mean(axis=0)
            i = int(cand[np.argmin(np.linalg.norm(pool.emb[cand] - centre, axis=1))])
        else:
            i = int(cand[np.argmax(dist[cand])])
        pool.take(i, dist[i] if np.isfinite(dist[i]) else 0.0)
        dist = np.minimum(dist, np.linalg.norm(pool.emb - pool.emb[i], axis=1))


def _margin_kcenter(pool: _Pool, n: int, rng: np.random.Generator) -> None:
    order = np.argsort(pool.margin, kind="stable")
    among = np.zeros(len(order), dtype=bool)
    among[order[pool.free[order]][: SHORTLIST * n]] = True
    _kcenter(pool, n, rng, among)
    pool.take_in_order(order, 1.0 - pool.margin, n)  # tops up if look-alikes thinned the list


def _badge(pool: _Pool, n: int, rng: np.random.Generator) -> None:
    """BADGE: k-means++ seeding on g = (p - onehot(argmax p)) (x) embedding, the last layer's
    gradient under the model's own guess: long where uncertain, pointing where the item is.

    Distances use ||g_i - g_j||^2 = |a_i|^2 |e_i|^2 + |a_j|^2 |e_j|^2 - 2 (a_i.a_j)(e_i.e_j)
    with a = p - onehot: exact, in O(m (K + d)) memory, so g (m x K*d) is never built and no
    random projection is needed (m = 100k, K*d = 15k would be 6 GB).
    """
    a = pool.proba.copy()
    a[np.arange(len(a)), pool.predicted] -= 1.0
    e = pool.emb
    sq = np.sum(a * a, axis=1) * np.sum(e * e, axis=1)

    def dist2(i: int) -> np.ndarray:
        return np.maximum(sq + sq[i] - 2.0 * (a @ a[i]) * (e @ e[i]), 0.0)

    d2 = np.full(len(a), np.inf)
    while len(pool.picks) < n:
        cand = np.flatnonzero(pool.free)
        if not cand.size:
            return
        if np.all(np.isinf(d2)):  # first centre: the largest gradient, as in the paper's code
            i = int(cand[np.argmax(sq[cand])])
        elif d2[cand].sum() > 0:
            i = int(rng.choice(cand, p=d2[cand] / d2[cand].sum()))
        else:  # every free item sits on a centre already: any is as good
            i = int(rng.choice(cand))
        pool.take(i, d2[i] if np.isfinite(d2[i]) else sq[i])
        d2 = np.minimum(d2, dist2(i))


def _balanced_margin(pool: _Pool, n: int, rng: np.random.Generator) -> None:
    """Margin order within classes; each pick goes to the predicted class that would then have
    the fewest labels (labelled + already picked), so rare classes catch up first."""
    assert pool.counts is not None
    have = pool.counts.astype(float).copy()
    order = np.argsort(pool.margin, kind="stable")
    while len(pool.picks) < n:
        free = order[pool.free[order]]
        if not free.size:
            return
        present = np.unique(pool.predicted[free])
        k = int(present[np.argmin(have[present])])
        i = int(free[pool.predicted[free] == k][0])
        pool.take(i, 1.0 - pool.margin[i])
        have[k] += 1


def _typiclust(pool: _Pool, n: int, rng: np.random.Generator) -> None:
    """TypiClust: k-means on the labelled items and the pool together into (labelled + n)
    groups; each pick is the most typical free item (highest inverse mean distance to its
    nearest neighbours within its group) of the group with the fewest labels, the largest
    first. Few labels are worth most on items that stand for many others, not on outliers or
    on the borderline cases a weak model is unsure about."""
    lab, emb = _unit(pool.labelled), pool.unit
    every = np.vstack([lab, emb]) if len(lab) else emb
    k = int(min(len(lab) + n, MAX_CLUSTERS, len(every)))
    if k < 1 or not len(emb):
        return
    seed = int(rng.integers(2**31 - 1))
    # Mini-batch k-means past 10k rows: the same groups to within a few items, in seconds
    means = (
        KMeans(k, n_init=1, random_state=seed)
        if len(every) <= 10_000
        else MiniBatchKMeans(k, n_init=3, random_state=seed, batch_size=4096)
    )
    with warnings.catch_warnings():  # fewer distinct items than groups: empty groups are fine
        warnings.simplefilter("ignore", ConvergenceWarning)
        groups = means.fit_predict(every)
    labels = np.bincount(groups[: len(lab)], minlength=k).astype(float)
    group = groups[len(lab) :]
    size = np.bincount(group, minlength=k)
    typical = np.zeros(len(emb))
    for kept in np.flatnonzero(size):
        members = np.flatnonzero(group == kept)
        if len(members) == 1:
            continue  # typicality 0: a group of one is an outlier, picked last in its group
        near = min(TYPICAL_NEIGHBOURS, len(members) - 1)
        dist, _ = NearestNeighbors(n_neighbors=near + 1).fit(emb[members]).kneighbors(emb[members])
        typical[members] = 1.0 / (dist[:, 1:].mean(axis=1) + 1e-12)
    while len(pool.picks) < n:
        open_ = np.unique(group[pool.free])
        if not open_.size:
            return
        # fewest labels first, then the largest group
        g = int(open_[np.lexsort((-size[open_], labels[open_]))[0]])
        members = np.flatnonzero((group == g) & pool.free)
        i = int(members[np.argmax(typical[members])])
        pool.notes[i] = f"typical of a group of {size[g]} similar pool items " + (
            f"with {int(labels[g])} label(s) so far" if labels[g] else "with no label yet"
        )
        pool.take(i, typical[i])
        labels[g] += 1


STRATEGIES: Registry[StrategyInfo] = Registry("labelling strategy")
for _info in (
    StrategyInfo("margin", "smallest top-2 margin", _margin, uncertainty=True),
    StrategyInfo("entropy", "highest predictive entropy", _entropy, uncertainty=True),
    StrategyInfo("random", "uniform at random (the baseline)", _random),
    StrategyInfo(
        "kcenter", "k-center greedy from the labelled set: pure diversity", _kcenter, diversity=True
    ),
    StrategyInfo(
        "margin_kcenter",
        "k-center among the 5n smallest margins",
        _margin_kcenter,
        uncertainty=True,
        diversity=True,
    ),
    StrategyInfo(
        "badge", "k-means++ on gradient embeddings (BADGE)", _badge, uncertainty=True, diversity=True
    ),
    StrategyInfo("typiclust", "the most typical item of each unlabelled dense group (TypiClust)", _typiclust),
    StrategyInfo(
        "balanced_margin",
        "margin, fewest-labelled predicted classes first",
        _balanced_margin,
        uncertainty=True,
        balance=True,
    ),
):
    STRATEGIES.register(_info.name, _info)


def rank_pool(
    proba: np.ndarray,
    embeddings: np.ndarray,
    labelled_embeddings: np.ndarray | None,
    n: int,
    strategy: str = "margin_kcenter",
    class_counts: np.ndarray | None = None,
    seed: int = 0,
    keys: Sequence[Hashable] | None = None,
    labelled_keys: Iterable[Hashable] = (),
    classes: Sequence[object] | None = None,
) -> list[Suggestion]:
    """The ``n`` pool items to label next, best first. ``proba`` [m, K] and ``embeddings``
    [m, d] describe the pool; ``keys`` (one per pool item) match it against ``labelled_keys``."""
    info = STRATEGIES.get(strategy)
    proba, emb, lab = _validated(proba, embeddings, labelled_embeddings, keys)
    if n < 0:
        raise DataError(f"n={n} items to suggest must be 0 or more.")
    counts = None if class_counts is None else np.asarray(class_counts, dtype=float).ravel()
    if info.balance and (counts is None or counts.size != proba.shape[1]):
        raise DataError(
            f"strategy {strategy!r} needs class_counts with one labelled count per "
            f"class ({proba.shape[1]}): pass np.bincount(y, minlength=K)."
        )
    usable = _usable(emb, lab, keys, set(labelled_keys))
    pool = _Pool(proba[usable], emb[usable], lab, counts)
    if n:
        info.select(pool, n, np.random.default_rng(seed))
    if len(pool.picks) < n:
        log.warning(
            "Asked for %d items to label but only %d of %d pool items can be suggested: "
            "the rest are labelled already, copies, or within cosine %.2f of a labelled "
            "item or another pick.",
            n,
            len(pool.picks),
            len(proba),
            SIMILAR,
        )
    names = list(classes) if classes is not None else list(range(proba.shape[1]))
    far_rank = np.empty(len(pool.far), dtype=int)
    far_rank[np.argsort(-pool.far, kind="stable")] = np.arange(1, len(pool.far) + 1)
    out = []
    for i, score in pool.picks:
        p = pool.proba[i]
        first, second = np.argsort(-p, kind="stable")[:2]
        why = [pool.notes[i]] if i in pool.notes else []
        if info.uncertainty:
            # A pool with few uncertain items left still fills the list: say which this is.
            sure = "uncertain" if pool.margin[i] < CONFIDENT_MARGIN else "confident"
            why.append(f"{sure}: margin {pool.margin[i]:.2f} between '{names[first]}' and '{names[second]}'")
        if info.balance and counts is not None and counts[first] < counts.mean():
            why.append(f"rare class '{names[first]}' ({int(counts[first])} labels)")
        if info.diversity:
            why.append(
                f"far from labelled items (distance rank {far_rank[i]})"
                if len(lab)
                else "spread over the pool (nothing labelled yet)"
            )
        out.append(
            Suggestion(
                int(usable[i]),
                score,
                int(first),
                float(p[first]),
                float(pool.margin[i]),
                "; ".join(why) or f"{info.name} pick",
            )
        )
    return out


def _usable(
    emb: np.ndarray, lab: np.ndarray, keys: Sequence[Hashable] | None, labelled_keys: set[Hashable]
) -> np.ndarray:
    """Pool positions left once labelled items, their look-alikes and exact copies are out."""
    keep = np.ones(len(emb), dtype=bool)
    if keys is not None:
        seen: set[Hashable] = set(labelled_keys)
        for i, key in enumerate(keys):
            keep[i] = key not in seen
            seen.add(key)
    _, first = np.unique(emb, axis=0, return_index=True)  # identical rows: keep the first
    keep &= np.isin(np.arange(len(emb)), first)
    if len(lab):
        unit, lab_unit = _unit(emb), _unit(lab)
        for start in range(0, len(emb), CHUNK):
            block = unit[start : start + CHUNK] @ lab_unit.T
            keep[start : start + CHUNK] &= block.max(axis=1) < SIMILAR
    return np.flatnonzero(keep)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _validated(
    proba: np.ndarray, emb: np.ndarray, lab: np.ndarray | None, keys: Sequence[Hashable] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = np.asarray(proba, dtype=float)
    e = np.asarray(emb, dtype=float)
    if p.ndim != 2 or p.shape[1] < 2 or e.ndim != 2 or len(e) != len(p):
        raise DataError(
            f"proba {p.shape} and embeddings {e.shape} must be [m, K>=2] and [m, d] "
            "for the same m pool items."
        )
    lab_arr = np.asarray(lab if lab is not None else [], dtype=float)
    if lab_arr.size == 0:
        lab_arr = np.zeros((0, e.shape[1]))
    if lab_arr.ndim != 2 or lab_arr.shape[1] != e.shape[1]:
        raise DataError(
            f"labelled_embeddings {lab_arr.shape} must be [n, {e.shape[1]}]: encode "
            "labelled items with the same encoder as the pool."
        )
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(e)) and np.all(np.isfinite(lab_arr))):
        raise DataError("proba and embeddings must be finite (no NaN): drop or re-encode those items.")
    if keys is not None and len(keys) != len(p):
        raise DataError(f"keys has {len(keys)} entries for {len(p)} pool items: pass one per item.")
    return p, e, lab_arr
