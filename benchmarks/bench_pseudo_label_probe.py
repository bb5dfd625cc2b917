"""Pseudo-labelling with the tuned probe, by CV on cifar10-few's `train` and its pool only: the
probe's C re-tuned on pseudo-labels every round and their weight ignored (the old behaviour)
against C kept from the fit on the labelled rows and pseudo-labels weighed by ``semi.weight``.
Prints accuracy (mean ± std over 5 folds x 2 repeats) and the seconds a fit takes.

    python benchmarks/bench_pseudo_label_probe.py [--backbone efficientnet_lite0] [--resolution 128]
        [--cache DIR]   # a search's cache folder reuses its embeddings
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import RepeatedStratifiedKFold

from automl.components.images.embed import ImageEmbedding
from automl.components.learners.classical import ProbeClassifier
from automl.components.runtime import Runtime
from automl.components.semi.pseudo_label import PseudoLabelClassifier

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-few"


class RetunedEveryRound(PseudoLabelClassifier):
    """The old rounds: nothing the labelled fit tuned is kept."""

    def _keeping_tuned(self, model):
        return model


class Unweighted(ProbeClassifier):
    """The old probe, which took no sample weights (pseudo-labels counted as labels)."""

    def fit(self, X, y):
        return super().fit(X, y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--cache", help="cache folder to read embeddings from (default: a new one)")
    args = ap.parse_args()
    train = sorted((DATA / "train").glob("*/*"))
    X = np.array([str(p.resolve()) for p in train], dtype=object)
    y = np.array([p.parent.name for p in train])
    P = np.array([str(p.resolve()) for p in sorted((DATA / "unlabelled").glob("*"))], dtype=object)
    with tempfile.TemporaryDirectory() as tmp:
        emb = ImageEmbedding(backbone=args.backbone, resolution=args.resolution)
        emb.set_runtime(Runtime(cache_dir=args.cache or tmp, n_jobs=2)).fit(X)
        Z, ZP = emb.transform(X), emb.transform(P)
    settings = dict(threshold=0.6, rounds=3, max_ratio=10)
    learners = {
        "probe alone": lambda: ProbeClassifier(),
        "pseudo-labels, C re-tuned each round, unweighted": lambda: RetunedEveryRound(
            Unweighted(), weight=1.0, **settings
        ),
        "pseudo-labels, C kept, weight 1": lambda: PseudoLabelClassifier(
            ProbeClassifier(), weight=1.0, **settings
        ),
        "pseudo-labels, C kept, weight 0.3": lambda: PseudoLabelClassifier(
            ProbeClassifier(), weight=0.3, **settings
        ),
    }
    scores: dict[str, list[float]] = {k: [] for k in learners}
    seconds = dict.fromkeys(learners, 0.0)
    for tr, va in RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=0).split(Z, y):
        for k, make in learners.items():
            model = make()
            if isinstance(model, PseudoLabelClassifier):
                model.set_runtime(Runtime(n_jobs=2, unlabelled=ZP, time_limit=1e9))
            t0 = time.perf_counter()
            model.fit(Z[tr], y[tr])
            seconds[k] += time.perf_counter() - t0
            scores[k].append(float((model.predict(Z[va]) == y[va]).mean()))
    for k, s in scores.items():
        print(f"{k:50s} {np.mean(s):.3f} ± {np.std(s):.3f}  fit {seconds[k] / len(s):.1f} s")


if __name__ == "__main__":
    main()
