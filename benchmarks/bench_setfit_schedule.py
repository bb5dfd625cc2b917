"""Does a time-stopped SetFit train less well than its whole schedule? Train split only.

SetFit at its defaults on each dataset's ``train``, 5 stratified folds: once with no time
limit, once with a limit of ``--share`` of the time the whole schedule took on that fold (what
a search's time-stopped fold trains). Prints held-out fold accuracy of both. This is the
train-side check behind refitting a time-stopped winner to its whole schedule
(``study.refit_fold_seconds``). No test split is read.

    python benchmarks/bench_setfit_schedule.py [--datasets trec-few sst2-few] [--share 0.4]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from automl.components.runtime import Runtime
from automl.components.text.finetune import SetFitClassifier

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["trec-few", "sst2-few"])
    ap.add_argument("--share", type=float, default=0.4)
    args = ap.parse_args()
    for name in args.datasets:
        df = pd.read_csv(DATA / name / "train.csv")
        X, y = df["text"].to_numpy(dtype=object), df["label"].to_numpy()
        full, cut = [], []
        for tr, va in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
            t0 = time.perf_counter()
            whole = SetFitClassifier().set_runtime(Runtime(time_limit=1e9)).fit(X[tr], y[tr])
            seconds = time.perf_counter() - t0
            part = SetFitClassifier().set_runtime(Runtime(time_limit=args.share * seconds)).fit(X[tr], y[tr])
            full.append(float((whole.predict(X[va]) == y[va]).mean()))
            cut.append(float((part.predict(X[va]) == y[va]).mean()))
            print(
                f"{name} fold: whole {full[-1]:.3f} ({seconds:.0f} s), cut {cut[-1]:.3f} "
                f"({part.schedule_done_:.0%} of its steps)",
                flush=True,
            )
        f, c = np.array(full), np.array(cut)
        print(
            f"{name}: whole schedule {f.mean():.3f}, cut {c.mean():.3f}, difference {f.mean() - c.mean():+.3f} "
            f"(folds better / worse: {(f > c).sum()} / {(f < c).sum()})"
        )


if __name__ == "__main__":
    main()
