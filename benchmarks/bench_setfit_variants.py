"""SetFit variants (top layers only, training precision): what they cost and score. Train only.

Each configuration ``ENCODER:LAYERS[:LR[:PAIRS]]`` (LAYERS 0 = all layers; LR defaults to
SetFit's 2e-5, PAIRS, the rounds of pairs drawn per row, to 20), at each ``--precision`` of the
training steps' forward pass, or ``package:ENCODER`` (the ``setfit`` package itself with that
body at its few-shot recipe, pip install 'automl[bench]'), is cross-validated with 5
stratified folds of each dataset's ``train`` (one partition per ``--seeds``), SetFit at its
defaults otherwise. Prints held-out fold accuracy (mean and spread over folds and partitions)
and the seconds a fit took. This is the train-side evidence for ``train_layers`` and for
bfloat16 training steps (``runtime.training_autocast``); no test split is read.

    python benchmarks/bench_setfit_variants.py [--datasets trec-few sst2-few]
        [--configs minilm:0 mpnet:1 mpnet:2 mpnet:4] [--precision fp32 bf16] [--seeds 1]
        [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import setfit_package_fit_predict  # benchmarks/ is on sys.path when run as a script
from sklearn.model_selection import StratifiedKFold

from automl.components.runtime import PRECISION_ENV, Runtime
from automl.components.text.finetune import SetFitClassifier

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["trec-few", "sst2-few"])
    ap.add_argument("--configs", nargs="+", default=["minilm:0", "mpnet:1", "mpnet:2", "mpnet:4"])
    ap.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--folds", type=int, default=5, help="score only the first K of the 5 folds")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for name in args.datasets:
        df = pd.read_csv(DATA / name / "train.csv")
        X, y = df["text"].to_numpy(dtype=object), df["label"].to_numpy()
        for config, precision in [(c, p) for c in args.configs for p in args.precision]:
            os.environ[PRECISION_ENV] = precision
            package = config.startswith("package:")
            spec = config.removeprefix("package:")
            encoder, layers, *rest = spec.split(":") if ":" in spec else (spec, "0")
            lr = float(rest[0]) if rest else 2e-5
            pairs = int(rest[1]) if len(rest) > 1 else 20
            scores, seconds = [], []
            for seed in range(args.seeds):
                folds = StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y)
                for tr, va in list(folds)[: args.folds]:
                    t0 = time.perf_counter()
                    if package:
                        pred = setfit_package_fit_predict(encoder, seed, X[tr], y[tr], X[va])
                    else:
                        clf = SetFitClassifier(
                            encoder=encoder, train_layers=int(layers), lr=lr, pairs=pairs, seed=seed
                        )
                        clf.set_runtime(Runtime(time_limit=1e9, n_jobs=args.threads)).fit(X[tr], y[tr])
                        pred = clf.predict(X[va])
                    seconds.append(time.perf_counter() - t0)
                    scores.append(float((pred == y[va]).mean()))
                    print(
                        f"{name} {config} {precision} seed {seed}: {scores[-1]:.3f} ({seconds[-1]:.0f} s)",
                        flush=True,
                    )
            rows.append((name, config, precision, np.mean(scores), np.std(scores), np.mean(seconds)))
    print(
        "\n| data | encoder:train_layers[:lr[:pairs]] | precision | CV accuracy (folds x partitions) | seconds a fit |"
    )
    print("|---|---|---|---|---|")
    for name, config, precision, mean, std, sec in rows:
        print(f"| {name} | {config} | {precision} | {mean:.3f} ± {std:.3f} | {sec:.0f} |")


if __name__ == "__main__":
    main()
