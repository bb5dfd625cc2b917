"""Which learning curve should forecast a search with twice the labels? Simulated on `train`
only (no test split, no oracle label is read).

A search with 2x the labels is free to ship another pipeline than the one it ships today: with
8 labels per class a cheap encoder's probe may win, with 16 a stronger encoder's. This
benchmark draws a stratified half of `train`, measures the learning curve (25/50/75/100% of
each training fold per class, the product's `fit_learning_curve`) of several cheap pipelines
on it, and compares two forecasts of the best CV score reachable on all of `train`:

- ``best``: the forecast at 2x of the pipeline with the best CV on the half (one curve);
- ``envelope``: the highest 2x forecast over the pipelines' curves.

The target is the best of the same pipelines' CV on all of `train` (same fold count), so a
rule is judged by how close it comes to what a search of those pipelines would find with
twice the labels. Embeddings are label-free and computed once per item (TF-IDF is fitted in
each fold).

    python benchmarks/bench_forecast_rules.py [--datasets cifar10-few sst2-few trec-few fsdd-few]
        [--draws 20] [--class-weight balanced|none]
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from bench_unlabelled import DATA, LAYOUTS  # benchmarks/ is on sys.path when run as a script
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold

from automl.components.learners.classical import ProbeClassifier
from automl.components.runtime import Runtime
from automl.data.load import load_dataset
from automl.labelling.curve import distinct_sizes, fit_learning_curve, subsample_per_class

FRACTIONS = (0.25, 0.5, 0.75, 1.0)

Fit = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (train rows, labels, test rows) -> pred


def candidates(name: str, cache: Path, class_weight: str) -> tuple[dict[str, Fit], np.ndarray]:
    """Each pipeline as a function fitting on some rows and predicting others, and the labels."""
    ds = load_dataset(DATA / name / LAYOUTS[name].train)
    runtime = Runtime(cache_dir=cache, n_jobs=1)
    feats: dict[str, object] = {}
    if ds.modality == "image":
        from automl.components.images.embed import ImageEmbedding

        feats = {
            "lite0 probe": ImageEmbedding(resolution=128),
            "lite2 probe": ImageEmbedding(backbone="efficientnet_lite2", resolution=128),
        }
    elif ds.modality == "text":
        from automl.components.text.features import TextEmbedding

        feats = {
            "minilm probe": TextEmbedding(encoder="minilm"),
            "mpnet probe": TextEmbedding(encoder="mpnet"),
        }
    else:
        from automl.components.audio.features import EncoderEmbedding, MfccStats

        feats = {"mfcc probe": MfccStats(), "encoder probe": EncoderEmbedding()}
    out: dict[str, Fit] = {}
    for label, featuriser in feats.items():
        Z = np.asarray(featuriser.set_runtime(runtime).fit(ds.X).transform(ds.X), dtype=float)  # type: ignore[attr-defined]
        out[label] = lambda tr, y, te, Z=Z: ProbeClassifier(class_weight).fit(Z[tr], y).predict(Z[te])
    if ds.modality == "text":
        from automl.components.text.features import TfidfFeatures

        texts = np.asarray(ds.X)

        def tfidf(tr, y, te):
            f = TfidfFeatures().fit(texts[tr])
            return (
                ProbeClassifier(class_weight).fit(f.transform(texts[tr]), y).predict(f.transform(texts[te]))
            )

        out["tfidf probe"] = tfidf
    return out, np.asarray(ds.y).astype(str)


def cv_curve(
    fit: Fit, rows: np.ndarray, y: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy at each fraction of every training fold (fractions x folds), the nominal
    sizes (fraction x labels per class) and the sizes actually trained on (every class keeps
    two, and fractions of a few items round)."""
    folds = min(5, int(np.bincount(y[rows]).min()))
    scores = np.full((len(FRACTIONS), folds), np.nan)
    counts = np.full((len(FRACTIONS), folds), np.nan)
    k = len(np.unique(y))
    for i, (tr, te) in enumerate(
        StratifiedKFold(folds, shuffle=True, random_state=seed).split(rows, y[rows])
    ):
        tr, te = rows[tr], rows[te]
        for j, fraction in enumerate(FRACTIONS):
            sub = tr[subsample_per_class(y[tr], fraction, seed=i)] if fraction < 1 else tr
            scores[j, i] = float(np.mean(fit(sub, y[sub], te) == y[te]))
            counts[j, i] = len(sub) / k
    nominal = np.array(FRACTIONS) * counts[-1].mean()
    return nominal, counts.mean(axis=1), scores


def actual_curve(sizes: np.ndarray, scores: np.ndarray):
    """The product's curve: sizes as trained on, a repeated size once."""
    rows = distinct_sizes(sizes)
    return fit_learning_curve(sizes[rows], scores[rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["cifar10-few", "sst2-few", "trec-few", "fsdd-few"])
    ap.add_argument("--draws", type=int, default=20)
    # The probe's start point weighs classes on labels gathered per class (default_class_weight).
    ap.add_argument("--class-weight", choices=["balanced", "none"], default="balanced")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    print("| data | rule | forecast - target, points (mean ± std) | mean abs | target in range |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets:
            fits, labels = candidates(name, Path(tmp), args.class_weight)
            _, y = np.unique(labels, return_inverse=True)
            rules = ("best", "envelope", "best's own pipeline")
            res: dict[str, list[tuple[float, bool]]] = {
                f"{r}, {how} sizes": [] for how in ("nominal", "actual") for r in rules
            }
            seen: dict[str, list[tuple[float, float, float, float]]] = {k: [] for k in fits}
            for draw in range(args.draws):
                rng = np.random.default_rng(draw)
                half = np.concatenate(
                    [rng.permutation(np.flatnonzero(y == c))[: (y == c).sum() // 2] for c in np.unique(y)]
                )
                curves, full = {}, {}
                for label, fit in fits.items():
                    nominal, actual, scores = cv_curve(fit, half, y, draw)
                    curves[label] = (
                        float(np.nanmean(scores[-1])),
                        {
                            "nominal": fit_learning_curve(nominal, scores),
                            "actual": actual_curve(actual, scores),
                        },
                    )
                    full[label] = float(np.nanmean(cv_curve(fit, np.arange(len(y)), y, draw)[2][-1]))
                for label in fits:
                    c = curves[label][1]
                    seen[label].append(
                        (
                            curves[label][0],
                            c["nominal"].forecasts[2][0],
                            c["actual"].forecasts[2][0],
                            full[label],
                        )
                    )
                target = max(full.values())
                best = max(curves, key=lambda k: curves[k][0])
                for how in ("nominal", "actual"):
                    top = max(curves, key=lambda k: curves[k][1][how].forecasts[2][0])
                    for rule, (pick, truth) in {
                        "best": (best, target),
                        "envelope": (top, target),
                        "best's own pipeline": (best, full[best]),
                    }.items():
                        point, low, high = curves[pick][1][how].forecasts[2]
                        res[f"{rule}, {how} sizes"].append((point - truth, low <= truth <= high))
            for label, v in seen.items():
                half_cv, nominal, actual, all_cv = np.mean(v, axis=0)
                print(
                    f"| {name} | ({label}: CV on half {half_cv:.3f}, its 2x forecast {nominal:.3f} "
                    f"(actual sizes {actual:.3f}), CV on all {all_cv:.3f}) | | | |"
                )
            for rule, values in res.items():
                err = 100 * np.array([v[0] for v in values])
                inside = np.mean([v[1] for v in values])
                print(
                    f"| {name} | {rule} | {err.mean():+.1f} ± {err.std():.1f} | {np.abs(err).mean():.1f} | "
                    f"{inside:.0%} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
