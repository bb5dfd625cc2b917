"""l1 and elastic-net logistic regression (saga) on raw features against the same penalties on
standardised coefficients (glmnet's convention, what `logreg` fits), by CV on `train` only.
Features whose scales run from hundreds to hundredths (MFCC statistics, a raw table) make
saga crawl; a sparse penalty is also scale-dependent, so the two are different models and CV
has to say which is better, not only which is faster. Prints accuracy (mean ± std over 5
folds x 2 repeats) and seconds a fit, per penalty and C, for fsdd-few's MFCC statistics, the
wine table, and MiniLM embeddings of sst2-few and trec-few (features on one scale).

    python benchmarks/bench_sparse_scaling.py [--clip 1.0] [--datasets fsdd-few wine sst2-few trec-few]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import RepeatedStratifiedKFold

from automl.components.audio.features import MfccStats
from automl.components.learners.classical import SteppedLogisticRegression
from automl.components.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"


def fsdd(clip: float) -> tuple[np.ndarray, np.ndarray]:
    files = sorted((SHARED / "fsdd-few" / "train").glob("*/*"))
    items = np.array([str(p.resolve()) for p in files], dtype=object)
    with tempfile.TemporaryDirectory() as tmp:
        feat = MfccStats(clip_seconds=clip).set_runtime(Runtime(cache_dir=tmp, n_jobs=1))
        X = feat.fit(items).transform(items)
    return np.asarray(X, dtype=float), np.array([p.parent.name for p in files])


def text(name: str) -> tuple[np.ndarray, np.ndarray]:
    """MiniLM sentence embeddings of a text set's `train`: features on one scale already."""
    from automl.components.text.features import TextEmbedding

    df = pd.read_csv(SHARED / name / "train.csv")
    items = df["text"].astype(str).to_numpy(dtype=object)
    with tempfile.TemporaryDirectory() as tmp:
        feat = TextEmbedding().set_runtime(Runtime(cache_dir=tmp, n_jobs=1))
        X = feat.fit(items).transform(items)
    return np.asarray(X, dtype=float), df["label"].to_numpy()


def wine() -> tuple[np.ndarray, np.ndarray]:
    df = pd.read_csv(ROOT / "examples" / "wine.csv")
    return df.drop(columns=["label"]).to_numpy(float), df["label"].to_numpy()


class OnRawFeatures(SteppedLogisticRegression):
    """The learner before sparse penalties were put on standardised coefficients."""

    def fit(self, X, y, sample_weight=None):
        return self._solve(X, y, sample_weight)


def run(X: np.ndarray, y: np.ndarray, penalty: str, C: float, scaled: bool) -> tuple[float, float, float]:
    ratio = 1.0 if penalty == "l1" else 0.5
    scores, seconds = [], []
    for tr, va in RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=0).split(X, y):
        kind = SteppedLogisticRegression if scaled else OnRawFeatures
        pipe = kind(C=C, l1_ratio=ratio, solver="saga", max_iter=5000, random_state=0)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipe.fit(X[tr], y[tr])
        seconds.append(time.perf_counter() - t0)
        scores.append(float(np.mean(pipe.predict(X[va]) == y[va])))
    return float(np.mean(scores)), float(np.std(scores)), float(np.mean(seconds))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["fsdd-few", "wine", "sst2-few", "trec-few"])
    ap.add_argument("--clip", type=float, default=1.0, help="fsdd-few clip length, seconds")
    ap.add_argument("--cs", type=float, nargs="+", default=[0.1, 1.0, 10.0, 100.0])
    args = ap.parse_args()
    for name in args.datasets:
        X, y = fsdd(args.clip) if name == "fsdd-few" else wine() if name == "wine" else text(name)
        spread = X.std(axis=0)
        print(
            f"\n{name}: {X.shape[0]} rows x {X.shape[1]} features, {len(np.unique(y))} classes; "
            f"feature std from {spread.min():.3g} to {spread.max():.3g}"
        )
        print(
            f"{'penalty':10} {'C':>6} | {'raw: CV':>15} {'s a fit':>8} | {'standardised: CV':>17} {'s a fit':>8}"
        )
        best = {False: 0.0, True: 0.0}
        for penalty in ("l1", "elasticnet"):
            for C in args.cs:
                raw = run(X, y, penalty, C, scaled=False)
                std = run(X, y, penalty, C, scaled=True)
                best[False], best[True] = max(best[False], raw[0]), max(best[True], std[0])
                print(
                    f"{penalty:10} {C:6g} | {raw[0]:.3f} ± {raw[1]:.3f} {raw[2]:8.2f} | "
                    f"{std[0]:9.3f} ± {std[1]:.3f} {std[2]:8.2f}",
                    flush=True,
                )
        print(f"best over the grid: raw {best[False]:.3f}, standardised {best[True]:.3f}")


if __name__ == "__main__":
    main()
