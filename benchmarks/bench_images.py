"""Image benchmark on cifar10-few (20 labelled images per class): `automl search` then
`automl predict` on the held-out test/ split, next to two fixed recipes trained on the same
train/ folder: a linear probe on frozen EfficientNet-Lite0 embeddings (128 px), and a
textbook partial fine-tune of the same backbone (last 2 blocks, 10 epochs, default
augmentation and regularisation).

    python benchmarks/bench_images.py --budget 10m [--skip-finetune]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from common import folder_labels, search_and_predict, timed  # benchmarks/ is on sys.path when run as a script

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-few"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def files(split: str) -> tuple[np.ndarray, np.ndarray]:
    paths = sorted((DATA / split).glob("*/*"))
    return np.array([str(p) for p in paths], dtype=object), np.array([p.parent.name for p in paths])


def probe() -> float:
    from sklearn.linear_model import LogisticRegression

    from automl.components.images.embed import ImageEmbedding
    from automl.components.runtime import Runtime

    (X, y), (Xt, yt) = files("train"), files("test")
    with tempfile.TemporaryDirectory() as cache:  # cold cache: embedding time counts
        emb = ImageEmbedding(backbone="efficientnet_lite0", resolution=128).set_runtime(
            Runtime(cache_dir=cache, n_jobs=2)
        )
        model = LogisticRegression(max_iter=5000).fit(emb.transform(X), y)
        return float((model.predict(emb.transform(Xt)) == yt).mean())


def finetune() -> float:
    from automl.components.images.finetune import ImageFineTuner
    from automl.components.runtime import Runtime

    (X, y), (Xt, yt) = files("train"), files("test")
    model = (
        ImageFineTuner(backbone="efficientnet_lite0", resolution=128).set_runtime(Runtime(n_jobs=2)).fit(X, y)
    )
    return float((model.predict(Xt) == yt).mean())


def automl(budget: str, work: Path) -> float:
    pred = search_and_predict(DATA / "train", DATA / "test", budget, work)
    return float((pred["prediction"].astype(str) == folder_labels(pred)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="10m")
    parser.add_argument("--skip-finetune", action="store_true", help="the fixed fine-tune takes minutes")
    args = parser.parse_args()
    rows = [("Lite0 128px probe + logreg", *timed(probe))]
    print(rows[-1], flush=True)
    if not args.skip_finetune:
        rows.append(("Lite0 partial fine-tune", *timed(finetune)))
        print(rows[-1], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        rows.append((f"automl {args.budget} + predict", *timed(automl, args.budget, Path(tmp))))
    n_test = len(files("test")[0])
    print(f"\ncifar10-few test accuracy ({n_test} images), automl budget {args.budget}")
    print(f"{'method':30} {'accuracy':>8} {'wall time':>10}")
    for method, acc, secs in rows:
        print(f"{method:30} {acc:8.3f} {secs:9.0f}s")


if __name__ == "__main__":
    main()
