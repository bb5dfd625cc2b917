"""Class weights for a linear probe on labels gathered per class, on `train` only (no test
split is read): the probe (C tuned inside the fold) on frozen embeddings, fitted with and
without balanced class weights on a share of each class's labels, scored on the rest of
`train`, whose classes are as balanced as the labels were gathered. ``one short`` takes one
label less from one random class, as counts gathered by hand come out. Also the 5-fold CV on
the fitted share, which is what a search sees of the same model.

    python benchmarks/bench_class_weight.py [--datasets ...] [--share 0.5] [--draws 30]
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np
from bench_unlabelled import DATA, LAYOUTS  # benchmarks/ is on sys.path when run as a script
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold

from automl.components.learners.classical import ProbeClassifier
from automl.components.runtime import Runtime
from automl.data.load import load_dataset

WEIGHTS = ("none", "balanced")


def embeddings(name: str, cache: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    ds = load_dataset(DATA / name / LAYOUTS[name].train)
    feats: dict[str, object]
    if ds.modality == "image":
        from automl.components.images.embed import ImageEmbedding

        feats = {"Lite0 128 px": ImageEmbedding(resolution=128)}
    elif ds.modality == "text":
        from automl.components.text.features import TextEmbedding

        feats = {"MiniLM": TextEmbedding(encoder="minilm"), "mpnet": TextEmbedding(encoder="mpnet")}
    else:
        from automl.components.audio.features import EncoderEmbedding, MfccStats

        feats = {"MFCC statistics": MfccStats(), "resemblyzer": EncoderEmbedding()}
    runtime = Runtime(cache_dir=cache, n_jobs=1)
    Z = {k: np.asarray(f.set_runtime(runtime).fit(ds.X).transform(ds.X), float) for k, f in feats.items()}  # type: ignore[attr-defined]
    return Z, np.unique(np.asarray(ds.y).astype(str), return_inverse=True)[1]


def cv(Z: np.ndarray, y: np.ndarray, weight: str, seed: int) -> tuple[float, float]:
    """5-fold CV accuracy of the probe, and the share of folds whose inner CV chose the
    smallest C on the path (where predictions follow the intercept)."""
    folds = StratifiedKFold(min(5, int(np.bincount(y).min())), shuffle=True, random_state=seed)
    scores, smallest = [], []
    for a, b in folds.split(Z, y):
        model = ProbeClassifier(weight, seed=seed).fit(Z[a], y[a])
        scores.append(np.mean(model.predict(Z[b]) == y[b]))
        smallest.append(model.C_ <= model.c_low * (1 + 1e-9))
    return float(np.mean(scores)), float(np.mean(smallest))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["cifar10-few", "sst2-few", "trec-few", "fsdd-few"])
    ap.add_argument("--share", type=float, default=0.5, help="share of each class's labels fitted on")
    ap.add_argument("--draws", type=int, default=30)
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    print(
        "| data | embedding | counts | rest of train: none | balanced | difference, points (± s.e.) "
        "| CV on the share: none | balanced | folds at the smallest C: none | balanced |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.datasets:
        with tempfile.TemporaryDirectory() as tmp:
            Zs, y = embeddings(name, Path(tmp))
        per = int(np.bincount(y).min() * args.share)
        for label, Z in Zs.items():
            for short in (False, True):
                rest: dict[str, list[float]] = {w: [] for w in WEIGHTS}
                inner: dict[str, list[tuple[float, float]]] = {w: [] for w in WEIGHTS}
                for draw in range(args.draws):
                    rng = np.random.default_rng(draw)
                    parts = [rng.permutation(np.flatnonzero(y == c))[:per] for c in np.unique(y)]
                    if short:
                        c = int(rng.integers(len(parts)))
                        parts[c] = parts[c][:-1]
                    fit = np.concatenate(parts)
                    held = np.setdiff1d(np.arange(len(y)), fit)
                    for w in WEIGHTS:
                        model = ProbeClassifier(w, seed=draw).fit(Z[fit], y[fit])
                        rest[w].append(float(np.mean(model.predict(Z[held]) == y[held])))
                        inner[w].append(cv(Z[fit], y[fit], w, draw))
                d = 100 * (np.array(rest["balanced"]) - np.array(rest["none"]))
                print(
                    f"| {name} | {label} | {per} a class{', one short' if short else ''} "
                    f"| {np.mean(rest['none']):.3f} | {np.mean(rest['balanced']):.3f} "
                    f"| {d.mean():+.1f} ± {d.std() / np.sqrt(len(d)):.1f} "
                    f"| {np.mean(inner['none'], axis=0)[0]:.3f} | {np.mean(inner['balanced'], axis=0)[0]:.3f} "
                    f"| {np.mean(inner['none'], axis=0)[1]:.0%} | {np.mean(inner['balanced'], axis=0)[1]:.0%} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
