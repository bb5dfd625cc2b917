"""The class mix of an unlabelled pool, and what the model's accuracy would be at that mix.

A few labels are often gathered a fixed number per class, while the data the model will meet
has its own proportions (questions about abbreviations are rare, reviews skew positive). The
cross-validated estimate is an estimate at the labels' mix. With the pool's predicted classes
and the model's out-of-fold confusion, black-box shift estimation (Lipton et al., ICML 2018)
estimates the pool's mix without a label: the predicted-class proportions are the confusion
matrix times the true mix, solved here with the mix kept on the simplex. Accuracy at that mix
is the out-of-fold recall of each class weighted by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from automl.exceptions import DataError

# Weight of the "proportions sum to 1" row in the least-squares system: large enough that the
# solution sits on the simplex, small enough to leave the system well conditioned.
SIMPLEX_WEIGHT = 100.0
WIDE = 0.2  # a proportion's 10-90% range this wide or wider is said to be rough


@dataclass(frozen=True)
class ClassMix:
    labelled: tuple[float, ...]  # the labels' class proportions
    pool: tuple[float, ...]  # the pool's estimated class proportions
    pool_range: tuple[tuple[float, float], ...]  # each proportion's 10-90% over the resamples
    accuracy_labelled: float  # out-of-fold accuracy at the labels' mix
    accuracy_pool: float  # out-of-fold recall per class weighted by the pool's mix
    accuracy_pool_range: tuple[float, float]  # 10-90% over resampled out-of-fold predictions

    def sentence(self, classes: Sequence[str], top: int = 6) -> str:
        order = np.argsort(self.pool)[::-1][:top]
        mix = ", ".join(
            f"{classes[i]} {self.pool[i]:.0%} ({self.pool_range[i][0]:.0%}-{self.pool_range[i][1]:.0%}; "
            f"labels {self.labelled[i]:.0%})"
            for i in order
        )
        more = "" if len(classes) <= top else f" and {len(classes) - top} more"
        wide = max(hi - lo for lo, hi in self.pool_range) > WIDE
        more += " (too few labels a class to say it more precisely)" if wide else ""
        return (
            f"the pool's class mix, estimated from the model's predictions and its out-of-fold "
            f"confusion: {mix}{more}. At that mix its out-of-fold accuracy would be about "
            f"{self.accuracy_pool:.3f} (range {self.accuracy_pool_range[0]:.3f}-"
            f"{self.accuracy_pool_range[1]:.3f}), against {self.accuracy_labelled:.3f} at your labels' mix"
        )


def oof_confusion(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Counts of (true class, predicted class) over the out-of-fold predictions."""
    p = np.asarray(proba, dtype=float)
    k = p.shape[1]
    scored = np.all(np.isfinite(p), axis=1)  # a row no fold predicted is not a prediction
    out = np.zeros((k, k), dtype=int)
    np.add.at(out, (np.asarray(y, dtype=int)[scored], p[scored].argmax(axis=1)), 1)
    return out


def estimate_class_mix(
    confusion: np.ndarray, predicted: np.ndarray, n_boot: int = 200, seed: int = 0
) -> ClassMix:
    """``confusion``: out-of-fold counts, rows true class, columns predicted class;
    ``predicted``: the class index the model predicts for each pool item. With 8 labels a
    class the confusion is itself a few counts, so the accuracy at the pool's mix comes with
    the range of ``n_boot`` re-estimates from confusions and pools drawn like the observed ones."""
    counts = np.asarray(confusion, dtype=float)
    k = counts.shape[0]
    if counts.shape != (k, k) or np.any(counts < 0):
        raise DataError(f"the confusion matrix must be square counts, got shape {counts.shape}.")
    per_class = counts.sum(axis=1)
    if np.any(per_class == 0):
        missing = np.flatnonzero(per_class == 0).tolist()
        raise DataError(f"classes {missing} have no out-of-fold prediction: the mix cannot be estimated.")
    pred = np.asarray(predicted, dtype=int)
    if pred.size == 0:
        raise DataError("the pool is empty: there is no mix to estimate.")
    seen = np.bincount(pred, minlength=k)
    mix, accuracy = _solve(counts, seen)
    rng = np.random.default_rng(seed)
    rates = counts / per_class[:, None]
    boot, mixes = [], []
    for _ in range(n_boot):
        resampled = np.array([rng.multinomial(int(n), r) for n, r in zip(per_class, rates)], dtype=float)
        if np.any(resampled.sum(axis=1) == 0):
            continue
        q, acc = _solve(resampled, rng.multinomial(pred.size, seen / pred.size))
        boot.append(acc)
        mixes.append(q)
    low, high = np.percentile(boot, [10, 90]) if boot else (accuracy, accuracy)
    lows, highs = np.percentile(mixes, [10, 90], axis=0) if mixes else (mix, mix)
    labelled = per_class / per_class.sum()
    return ClassMix(
        tuple(labelled.tolist()),
        tuple(mix.tolist()),
        tuple((float(min(a, m)), float(max(b, m))) for a, b, m in zip(lows, highs, mix)),
        float(labelled @ (np.diag(counts) / per_class)),
        accuracy,
        (float(min(low, accuracy)), float(max(high, accuracy))),
    )


def _solve(counts: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, float]:
    """The mix q >= 0, sum 1, that best explains the predicted-class counts ``seen``, and the
    accuracy at it."""
    k = counts.shape[0]
    per_class = counts.sum(axis=1)
    # given[i, j] = P(predicted i | true j): the model's behaviour, measured out of fold.
    given = (counts / per_class[:, None]).T
    A = np.vstack([given, SIMPLEX_WEIGHT * np.ones((1, k))])
    b = np.concatenate([seen / max(seen.sum(), 1), [SIMPLEX_WEIGHT]])
    mix, _ = nnls(A, b)
    mix = mix / mix.sum() if mix.sum() > 0 else np.full(k, 1.0 / k)
    return mix, float(mix @ (np.diag(counts) / per_class))
