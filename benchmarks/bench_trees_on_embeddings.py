"""Trees and sparse (l1, elastic-net) logistic regression vs the linear probe on frozen
embeddings, by CV on each dataset's `train` only: the evidence behind leaving XGBoost and the
sparse penalties out of image searches with fewer labelled images than embedding dimensions
(`_xgb_suits` and `_logreg_space` in automl/components/learners/classical.py).

    python benchmarks/bench_trees_on_embeddings.py [--datasets cifar10-few fsdd-few] [--repeats 2]

Embeddings as in bench_suggest_strategies.py (Lite0 128 px, MiniLM, the speaker encoder);
one thread per fit. Prints each learner's CV accuracy (mean over repeats, and each repeat)
and its mean fit time.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from bench_suggest_strategies import embeddings  # benchmarks/ is on sys.path when run as a script
from sklearn.model_selection import RepeatedStratifiedKFold

from automl.components.learners.classical import ProbeClassifier, XGBoostClassifier, _build_logreg
from automl.components.runtime import Runtime

_SEED0: Any = type("Ctx", (), {"seed": 0})  # all _build_logreg reads of its context

LEARNERS: dict[str, Callable[[], Any]] = {
    "probe": lambda: ProbeClassifier(),
    "xgboost defaults": lambda: XGBoostClassifier(),
    "xgboost depth 2, lr 0.1, 300": lambda: XGBoostClassifier(
        max_depth=2, learning_rate=0.1, n_estimators=300
    ),
    "xgboost depth 6, lr 0.03, 500, 30% cols": lambda: XGBoostClassifier(
        max_depth=6, learning_rate=0.03, n_estimators=500, colsample_bytree=0.3
    ),
}
for _penalty in ("l1", "elasticnet"):
    for _c in (0.03, 0.3, 3.0, 30.0):
        LEARNERS[f"{_penalty}, C {_c}"] = lambda p=_penalty, c=_c: _build_logreg(
            {"penalty": p, "C": c, "l1_ratio": 0.5}, _SEED0
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["cifar10-few", "trec-few", "sst2-few", "fsdd-few"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--folds", type=int, default=4)
    args = ap.parse_args()
    for name in args.datasets:
        Z, y = embeddings(name)
        print(f"{name}: {Z.shape[0]} labelled, {Z.shape[1]}-d", flush=True)
        cv = RepeatedStratifiedKFold(n_splits=args.folds, n_repeats=args.repeats, random_state=0)
        scores: dict[str, list[float]] = {k: [] for k in LEARNERS}
        seconds = dict.fromkeys(LEARNERS, 0.0)
        for tr, va in cv.split(Z, y):
            for k, make in LEARNERS.items():
                t0 = time.perf_counter()
                model = make()
                if hasattr(model, "set_runtime"):
                    model.set_runtime(Runtime(n_jobs=1, time_limit=1e9))
                model.fit(Z[tr], y[tr])
                seconds[k] += time.perf_counter() - t0
                scores[k].append(float((model.predict(Z[va]) == y[va]).mean()))
        n = args.folds * args.repeats
        for k, s in scores.items():
            per = np.array(s).reshape(args.repeats, args.folds).mean(1)
            print(
                f"  {k:42s} {per.mean():.3f} (repeats {', '.join(f'{v:.3f}' for v in per)}), "
                f"fit {seconds[k] / n:.1f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
