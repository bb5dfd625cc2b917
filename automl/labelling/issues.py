"""Label issues by confident learning (Northcutt, Jiang & Chuang, JAIR 2021).

From out-of-fold probabilities: class j's threshold is the mean probability of j over items
labelled j (how sure the model is on its own class), so an over- or under-confident model is
judged against itself. The confident joint counts, per (given, likely true) pair, the items
whose probability clears the threshold; calibrated to the label counts it estimates how many
labels in each pair are wrong, and that many are flagged, least self-confident first.

With a few hundred labels and a model that is right two times in three, the confident joint
also counts the correct labels the model gets wrong, and flags two to four times as many
items as there are errors. So the list is capped at a second estimate of how many labels are
wrong, a mixture proportion (Blanchard, Lee & Scott 2010): a wrong label's out-of-fold
probability looks like the probability the model gives any wrong class, so the share of labels
at or below a threshold t, divided by the share of wrong-class probabilities at or below t,
bounds the error rate from above for every t; the smallest such ratio is the estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from automl.exceptions import DataError
from automl.logger import log

# Items exactly at a threshold count as confident; the tolerance absorbs float error (cleanlab's).
TIE = 1e-6
FILTERS = ("prune_by_noise_rate", "confident_learning", "both")
DEFAULT_FILTER = "prune_by_noise_rate"
# The mixture estimate's thresholds t keep at least this share of the wrong-class
# probabilities at or below t: over thresholds lower still, the ratio divides by a handful of
# items and its minimum follows their noise. The median, chosen on `train` only: 10% of the
# labels of cifar10-few (EfficientNet-Lite0 embeddings, 224 px) and trec-few (mpnet) flipped
# at random, out-of-fold logistic regression, 30 draws each. For 20 flips of 200 it counted
# 25 +- 5; 0.3 counted 21.5 +- 6 with lower recall at 5% noise (0.57 vs 0.68, 128 px), and
# 0.7 counted 35 +- 5.
MIXTURE_MASS = 0.5
COLUMNS = ["item", "given_label", "suggested_label", "self_confidence", "suggested_confidence", "rank"]


@dataclass(frozen=True)
class LabelIssue:
    index: int  # position in y
    given_label: object  # classes[y[index]]
    suggested_label: object
    self_confidence: float  # out-of-fold probability of the given label
    suggested_confidence: float
    rank: int  # 1 = most likely wrong
    why: str


def find_label_issues(
    y: np.ndarray,
    oof_proba: np.ndarray,
    classes: Sequence[object],
    filter_by: str = DEFAULT_FILTER,
    quantile: float | None = None,
    cap: bool = True,
) -> list[LabelIssue]:
    """Likely wrong labels, most likely first.

    ``y`` holds class indices into ``classes``; ``oof_proba`` is [n, K] out-of-fold (never
    in-sample: a model scores its own training labels as right). ``filter_by`` (cleanlab's
    names): ``prune_by_noise_rate`` flags in each (given, suggested) cell as many items as the
    calibrated confident joint estimates, least self-confident first;
    ``confident_learning`` flags exactly the confident joint's off-diagonal items; ``both``
    flags the items both flag. A class's threshold is the mean self-confidence of the items
    labelled with it, or with ``quantile`` that quantile of it (higher: fewer, surer flags).
    With ``cap``, at most :func:`estimated_error_share` of the labels are flagged, the least
    self-confident of the filter's.
    """
    if filter_by not in FILTERS:
        raise ValueError(f"filter_by must be one of {', '.join(FILTERS)}, not {filter_by!r}")
    labels, proba = _validated(y, oof_proba, classes)
    n, k = proba.shape
    rows = np.arange(n)
    self_conf = proba[rows, labels]
    counts = np.bincount(labels, minlength=k)
    # A class nobody is labelled with has no calibration: nothing is confidently in it.
    sums = np.bincount(labels, weights=self_conf, minlength=k)
    thresholds = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    if quantile is not None:
        thresholds = np.array(
            [np.quantile(self_conf[labels == j], quantile) if counts[j] else np.inf for j in range(k)]
        )
    confident = proba >= thresholds - TIE
    guess = np.where(confident, proba, -np.inf).argmax(axis=1)
    has_guess = confident.any(axis=1)
    joint = np.zeros((k, k))
    np.add.at(joint, (labels[has_guess], guess[has_guess]), 1)

    others = proba.copy()
    others[rows, labels] = -np.inf
    off = has_guess & (guess != labels)
    suggested = np.where(off, guess, others.argmax(axis=1))
    # Like cleanlab, an item the model still predicts as its given label is never flagged.
    disagrees = proba.argmax(axis=1) != labels

    off_joint = set(np.flatnonzero(off & disagrees).tolist())
    if filter_by != "confident_learning":
        totals = joint.sum(axis=1, keepdims=True)
        calibrated = np.divide(joint * counts[:, None], totals, out=np.zeros_like(joint), where=totals > 0)
        quota = np.rint(calibrated).astype(int)
        flagged: list[int] = []
        for i, j in zip(*np.nonzero(quota)):
            if i == j:
                continue
            cell = np.flatnonzero((labels == i) & (suggested == j) & disagrees)
            cell = cell[np.argsort(self_conf[cell], kind="stable")]
            flagged.extend(cell[: quota[i, j]].tolist())
        if filter_by == "both":
            flagged = [i for i in flagged if i in off_joint]
        picked = np.array(sorted(flagged), dtype=int)
    else:
        picked = np.array(sorted(off_joint), dtype=int)
    picked = picked[np.argsort(self_conf[picked], kind="stable")]
    log.debug("Confident learning: %d of %d labels flagged.", picked.size, n)
    if cap:
        limit = int(round(estimated_error_share(labels, proba) * n))
        log.debug(
            "At most %d labels look wrong: the %d least self-confident are kept.",
            limit,
            min(limit, picked.size),
        )
        picked = picked[:limit]
    issues = []
    for rank, idx in enumerate(picked.tolist(), start=1):
        i, j = int(labels[idx]), int(suggested[idx])
        p_i, p_j = float(self_conf[idx]), float(proba[idx, j])
        above = (
            f"at or above its typical {thresholds[j]:.2f}"
            if p_j >= thresholds[j] - TIE
            else "the model's choice"
        )
        why = f"labelled '{classes[i]}' at p={p_i:.2f}; '{classes[j]}' gets p={p_j:.2f}, {above}"
        issues.append(LabelIssue(idx, classes[i], classes[j], p_i, p_j, rank, why))
    return issues


def estimated_error_share(y: np.ndarray, oof_proba: np.ndarray, mass: float = MIXTURE_MASS) -> float:
    """An upper estimate of the share of wrong labels, from out-of-fold probabilities.

    If a wrong label is a wrong class like any other, its probability is drawn from the
    probabilities the model gives wrong classes, F_wrong; a right label's adds to the share at
    or below any threshold t. So share <= F_given(t) / F_wrong(t) for every t, and the minimum
    over thresholds with F_wrong(t) >= ``mass`` is the estimate. F_wrong comes from every
    item's other classes (a wrong label's true class among them: a slight upward bias). When
    errors go to a look-alike class rather than a random one, their probabilities run higher
    and the estimate is low.
    """
    labels = np.asarray(y, dtype=int)
    proba = np.asarray(oof_proba, dtype=float)
    n, k = proba.shape
    if n == 0 or k < 2:
        return 0.0
    given = np.sort(proba[np.arange(n), labels])
    others = np.ones_like(proba, dtype=bool)
    others[np.arange(n), labels] = False
    wrong = np.sort(proba[others])
    f_wrong = np.searchsorted(wrong, given, side="right") / wrong.size
    f_given = np.searchsorted(given, given, side="right") / n
    usable = f_wrong >= mass
    if not usable.any():
        return 1.0
    return float(min(1.0, (f_given[usable] / f_wrong[usable]).min()))


def to_frame(issues: Sequence[LabelIssue], items: Sequence[object] | None = None) -> pd.DataFrame:
    """One row per issue; ``item`` is ``items[index]`` (a file name, a row id), else the index."""
    return pd.DataFrame(
        [
            (
                items[x.index] if items is not None else x.index,
                x.given_label,
                x.suggested_label,
                x.self_confidence,
                x.suggested_confidence,
                x.rank,
            )
            for x in issues
        ],
        columns=COLUMNS,
    )


def _validated(
    y: np.ndarray, oof_proba: np.ndarray, classes: Sequence[object]
) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(y)
    proba = np.asarray(oof_proba, dtype=float)
    if proba.ndim != 2 or labels.ndim != 1 or proba.shape[0] != labels.size:
        raise DataError(
            f"oof_proba has shape {proba.shape} and y {labels.shape}: pass one row of "
            "class probabilities per label."
        )
    if proba.shape[1] != len(classes) or len(classes) < 2:
        raise DataError(
            f"oof_proba has {proba.shape[1]} columns for {len(classes)} classes: "
            "pass one column per class, at least 2."
        )
    if labels.size and (
        not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= len(classes)
    ):
        raise DataError(
            f"y must hold class indices 0..{len(classes) - 1}, got values "
            f"{np.unique(labels)[:5].tolist()}: encode labels with classes first."
        )
    if not np.all(np.isfinite(proba)) or proba.min(initial=0) < 0 or proba.max(initial=0) > 1:
        raise DataError(
            "oof_proba must hold probabilities in [0, 1] (no NaN): use the model's "
            "predict_proba on held-out folds."
        )
    return labels.astype(int), proba
