"""How high can the backbone's learning rate go? 5-fold CV on cifar10-few's `train` only (no
test split is read) of the image fine-tuner at given modes and learning rates, as measured for
``automl.components.images.finetune.BODY_LR_MAX``: EfficientNet-Lite0, 128 px, 4 epochs,
batch 16, layer decay 0.75, last 2 blocks for ``partial``.

    python benchmarks/bench_finetune_lr.py [--configs full:1e-3 full:2e-3 partial:8e-3 ...]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

from automl.components.images.finetune import ImageFineTuner
from automl.components.runtime import Runtime

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-few" / "train"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["full:1e-3", "full:2e-3", "full:4e-3", "full:1.6e-2", "partial:8e-3", "partial:3e-2"],
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    paths = sorted(DATA.glob("*/*"))
    X = np.array([str(p) for p in paths], dtype=object)
    y = np.array([p.parent.name for p in paths])
    print(f"{'mode':8} {'lr':>8} {'CV accuracy':>16}  folds, seconds")
    for config in args.configs:
        mode, lr = config.split(":")
        scores, t0 = [], time.time()
        for tr, va in StratifiedKFold(args.folds, shuffle=True, random_state=0).split(X, y):
            model = ImageFineTuner(
                mode=mode, lr=float(lr), epochs=4, batch_size=16, layer_decay=0.75, blocks=2
            )
            model.set_runtime(Runtime(n_jobs=args.threads)).fit(X[tr], y[tr])
            scores.append(float((model.predict(X[va]) == y[va]).mean()))
        print(
            f"{mode:8} {float(lr):8.1e} {np.mean(scores):8.3f} ± {np.std(scores):.3f}  "
            f"{[round(s, 3) for s in scores]}, {time.time() - t0:.0f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
