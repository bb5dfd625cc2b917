"""Learning curve with a forecast: what would 2x or 4x the labels per class buy?

Cross-validated scores on nested subsets (25/50/75/100% of each training fold) are fitted with a
saturating inverse power law ``score(n) = a - b * n**-c`` (Mukherjee et al., 2003; Figueroa et
al., 2012), the usual shape of sample-size curves. The interval comes from a bootstrap over
folds, so it reflects how much the folds disagree, not the fit's own residuals.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from automl.exceptions import DataError
from automl.logger import log

FACTORS = (2, 4)
# Verdict thresholds on the gain at 2x labels, in points (1/100 of the metric's range). With
# 8-20 labels per class a CV estimate has a standard error of 3-7 points (accuracy 0.8 on 30
# items: sqrt(.8 * .2 / 30) = 7 points), so < 1 point is below anything measurable: flat. Over
# 5 points is larger than the usual gap between the search's best models: labelling beats tuning.
FLAT_POINTS = 1.0
STEEP_POINTS = 5.0
C_RANGE = (1e-3, 2.0)  # c in (0, 2]: c > 2 would mean the error vanishes faster than 1/n^2


@dataclass(frozen=True)
class LearningCurve:
    sizes: tuple[float, ...]  # mean labels per class in the training folds, ascending
    means: tuple[float, ...]  # fold mean at each size (NaN folds left out)
    stds: tuple[float, ...]  # fold standard deviation at each size (0 with a single fold)
    params: tuple[float, ...]  # (a, b, c) for "power", (alpha, beta) for "loglinear"
    model: str  # "power": a - b * n**-c; "loglinear": alpha + beta * ln(n), clipped to the range
    current: float  # fitted score at the largest size
    forecasts: dict[int, tuple[float, float, float]]  # factor -> (point, low, high)
    slope: float  # forecasts[2] - current, in metric units (negative when lower is better)
    verdict: str  # "flat", "rising" or "steep"
    greater_is_better: bool = True  # params are fitted to the scores negated when False
    bounds: tuple[float, float] = (-np.inf, np.inf)

    def value_at(self, n: float) -> float:
        return float(
            _value(self.model, self.params, np.array([n], dtype=float), self.greater_is_better, self.bounds)[
                0
            ]
        )

    def sentence(self, labels_per_class: float, metric: str) -> str:
        # Doubling the data doubles the labels in every training fold too, so the extra labels
        # needed to reach the 2x forecast equal the labels per class the user has now.
        # The curve's own value at today's labels goes with it: a forecast read next to a
        # different number (the shipped model's estimate, the trial's CV over all repeats) says
        # nothing about the gain.
        point, low, high = self.forecasts[2]
        return (
            f"with about {round(labels_per_class)} more labels per class the estimate is "
            f"{metric} {_fmt(point)} (range {_fmt(low)}-{_fmt(high)}) against {_fmt(self.current)} "
            f"on the curve today; the curve is {self.verdict}"
        )


def fit_learning_curve(
    sizes: np.ndarray,
    scores: np.ndarray,
    greater_is_better: bool = True,
    bounds: tuple[float, float] | None = (0.0, 1.0),
    n_boot: int = 200,
    seed: int = 0,
) -> LearningCurve:
    """Fit the curve to ``scores`` (sizes x folds, NaN for a missing fold) and forecast it."""
    n = np.asarray(sizes, dtype=float).ravel()
    s = np.asarray(scores, dtype=float)
    if s.ndim == 1:
        s = s[:, None]
    if s.ndim != 2 or s.shape[0] != n.size:
        raise DataError(
            f"scores have shape {s.shape} but there are {n.size} sizes: pass one row "
            "per size and one column per fold."
        )
    if np.any(~np.isfinite(n)) or np.any(n <= 0):
        raise DataError(f"sizes {n.tolist()} must be positive labels per class.")
    keep = ~np.all(np.isnan(s), axis=1)
    if not keep.all():
        log.warning("Learning curve: no fold scored at sizes %s; left out.", n[~keep].tolist())
    order = np.argsort(n[keep], kind="stable")
    n, s = n[keep][order], s[keep][order]
    if np.unique(n).size < 2:
        raise DataError(
            f"a learning curve needs scores at 2 or more sizes, got {n.tolist()}: "
            "score the model on nested subsets (e.g. 25/50/75/100%)."
        )
    lo, hi = bounds if bounds is not None else (-np.inf, np.inf)
    sign = 1.0 if greater_is_better else -1.0
    # Fitted in "higher is better" units; the power law's ceiling a is the metric's best value.
    ceiling = hi if greater_is_better else -lo
    model, params = _fit(n, sign * s, ceiling)
    top = float(n[-1])
    targets = np.array([f * top for f in FACTORS])

    def forecast(m: str, p: tuple[float, ...]) -> np.ndarray:
        return _value(m, p, targets, greater_is_better, (lo, hi))

    points = forecast(model, params)
    boot = _bootstrap(n, sign * s, ceiling, n_boot, seed, forecast)
    forecasts: dict[int, tuple[float, float, float]] = {}
    for k, f in enumerate(FACTORS):
        low, high = np.nanpercentile(boot[:, k], [10, 90]) if boot.size else (points[k],) * 2
        # Percentiles of refits can miss a biased point fit; the range always contains it.
        forecasts[f] = (float(points[k]), float(min(low, points[k])), float(max(high, points[k])))
    current = float(_value(model, params, np.array([top]), greater_is_better, (lo, hi))[0])
    slope = forecasts[2][0] - current
    scale = hi - lo if np.isfinite(hi - lo) else 1.0
    gain = 100.0 * sign * slope / scale
    verdict = "flat" if gain < FLAT_POINTS else "steep" if gain > STEEP_POINTS else "rising"
    means = np.nanmean(s, axis=1)
    counts = np.sum(~np.isnan(s), axis=1)
    stds = np.where(counts > 1, np.nanstd(s, axis=1, ddof=min(1, s.shape[1] - 1)), 0.0)
    return LearningCurve(
        tuple(n.tolist()),
        tuple(means.tolist()),
        tuple(stds.tolist()),
        params,
        model,
        current,
        forecasts,
        slope,
        verdict,
        greater_is_better,
        (lo, hi),
    )


def subsample_per_class(y: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Positions of a stratified ``fraction`` of ``y``, nested across fractions for one seed.

    Each class is shuffled once per seed and cut at ``round(fraction * count)``, so the 25%
    subset lies inside the 50% one and the curve only ever adds data. Every class keeps 2 items
    (1 if it has only 1): a class with no training item cannot be predicted at all.
    """
    if not 0.0 < fraction <= 1.0:
        raise DataError(f"fraction {fraction} must be in (0, 1]: it is the share of each class kept.")
    labels = np.asarray(y)
    rng = np.random.default_rng(seed)
    picked = []
    for cls in np.unique(labels):
        where = np.flatnonzero(labels == cls)
        shuffled = where[rng.permutation(where.size)]
        keep = max(min(2, where.size), int(np.floor(fraction * where.size + 0.5)))
        picked.append(shuffled[:keep])
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=int)


def distinct_sizes(sizes: np.ndarray) -> list[int]:
    """Positions of the ascending ``sizes`` to keep: a size as large as the next one up
    trained on that one's rows in most folds (``subsample_per_class`` keeps two a class), so
    only the largest of a run of equal sizes is kept."""
    n = np.asarray(sizes, dtype=float)
    return [j for j in range(len(n)) if j == len(n) - 1 or n[j] < n[j + 1] - 1e-9]


def _fit(n: np.ndarray, s: np.ndarray, ceiling: float) -> tuple[str, tuple[float, ...]]:
    """Weighted least squares on the fold means: power law, else log-linear."""
    means = np.nanmean(s, axis=1)
    k = np.sum(~np.isnan(s), axis=1)
    var = np.where(k > 1, np.nanvar(s, axis=1, ddof=min(1, s.shape[1] - 1)), np.nan)
    pooled = np.nanmean(var) if np.any(np.isfinite(var)) else 1.0
    # A size's own variance from 3-5 folds is itself +-50% noise: shrink it halfway to the
    # pooled one, so one size whose folds happened to agree does not take all the weight.
    var = np.where(np.isfinite(var), (var + pooled) / 2, pooled)
    sigma = np.sqrt(np.maximum(var, 1e-8) / k)
    if np.unique(n).size >= 3:
        try:
            return "power", _fit_power(n, means, sigma, ceiling)
        except (RuntimeError, ValueError) as err:
            log.debug("Power-law fit failed (%s); using a log-linear fit.", err)
    return "loglinear", _fit_loglinear(n, means, sigma)


def _fit_power(n: np.ndarray, y: np.ndarray, sigma: np.ndarray, ceiling: float) -> tuple[float, ...]:
    top = n.max()
    x = n / top  # fitted on n / n_max so b is of the order of the scores (better conditioned)
    spread = max(float(y.max() - y.min()), 1e-3)
    a0 = min(float(y.max()) + spread, ceiling - 1e-9) if np.isfinite(ceiling) else y.max() + spread
    b0 = max(a0 - float(y.max()), 1e-6)

    def f(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
        return a - b * x**-c

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        p, _ = curve_fit(
            f,
            x,
            y,
            p0=[a0, b0, 0.5],
            sigma=sigma,
            maxfev=2000,
            bounds=([-np.inf, 0.0, C_RANGE[0]], [ceiling, np.inf, C_RANGE[1]]),
        )
    if not np.all(np.isfinite(p)):
        raise RuntimeError("non-finite parameters")
    a, b, c = (float(v) for v in p)
    return a, float(b * top**c), c  # back to a - b * n**-c in labels per class


def _fit_loglinear(n: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> tuple[float, ...]:
    w = 1.0 / sigma**2
    x = np.log(n)
    xm, ym = np.average(x, weights=w), np.average(y, weights=w)
    sxx = float(np.sum(w * (x - xm) ** 2))
    # More labels do not hurt in expectation: a falling fit is noise, read as flat.
    beta = max(float(np.sum(w * (x - xm) * (y - ym))) / sxx, 0.0) if sxx > 0 else 0.0
    return float(ym - beta * xm), beta


def _value(
    model: str, params: tuple[float, ...], n: np.ndarray, greater_is_better: bool, bounds: tuple[float, float]
) -> np.ndarray:
    """The curve in metric units: un-negated, and clipped to the metric's range."""
    if model == "power":
        a, b, c = params
        out = a - b * n**-c
    else:
        alpha, beta = params
        out = alpha + beta * np.log(n)
    return np.clip(out if greater_is_better else -out, bounds[0], bounds[1])


def _bootstrap(
    n: np.ndarray,
    s: np.ndarray,
    ceiling: float,
    n_boot: int,
    seed: int,
    forecast: Callable[[str, tuple[float, ...]], np.ndarray],
) -> np.ndarray:
    """Refit on fold columns drawn with replacement; one row of forecasts per refit."""
    folds = s.shape[1]
    if folds < 2 or n_boot < 1:
        return np.zeros((0, len(FACTORS)))
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_boot):
        sub = s[:, rng.integers(0, folds, folds)]
        ok = ~np.all(np.isnan(sub), axis=1)
        if np.unique(n[ok]).size < 2:
            continue
        model, params = _fit(n[ok], sub[ok], ceiling)
        rows.append(forecast(model, params))
    return np.array(rows) if rows else np.zeros((0, len(FACTORS)))


def _fmt(v: float) -> str:
    return f"{v:.3f}" if abs(v) < 100 else f"{v:.4g}"
