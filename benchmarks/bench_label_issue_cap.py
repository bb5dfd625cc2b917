"""The cap on label issues (``labelling/issues.py: estimated_error_share``), simulated on each
dataset's `train` only: 10% of the labels flipped to another class at random, out-of-fold
probabilities of the tuned probe on frozen embeddings trained on the noisy labels (5 folds),
then the precision and recall of the flagged items against the flips, without the cap and with
it at each ``--mass`` (the share of wrong-class probabilities the bound's thresholds must
cover; the product's default is ``MIXTURE_MASS``), and the estimated share of wrong labels
against the true 10%. No test split is read.

    python benchmarks/bench_label_issue_cap.py [--datasets cifar10-few trec-few] [--draws 30]
        [--mass 0.3 0.5 0.7] [--rate 0.1]
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_suggest_strategies import embeddings  # benchmarks/ is on sys.path when run as a script
from sklearn.model_selection import StratifiedKFold

from automl.components.learners.classical import ProbeClassifier
from automl.labelling.issues import MIXTURE_MASS, estimated_error_share, find_label_issues


def flipped(y: np.ndarray, k: int, rate: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Labels with ``rate`` of them moved to another class at random, and which were moved."""
    n = len(y)
    moved = rng.choice(n, size=int(round(rate * n)), replace=False)
    noisy = y.copy()
    noisy[moved] = (y[moved] + rng.integers(1, k, size=len(moved))) % k
    return noisy, moved


def out_of_fold(Z: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    k = int(y.max()) + 1
    proba = np.zeros((len(y), k))
    folds = min(5, int(np.bincount(y).min()))
    for tr, va in StratifiedKFold(folds, shuffle=True, random_state=seed).split(Z, y):
        model = ProbeClassifier(seed=seed).fit(Z[tr], y[tr])
        proba[np.ix_(va, model.classes_)] = model.predict_proba(Z[va])
    return proba


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["cifar10-few", "trec-few"])
    ap.add_argument("--draws", type=int, default=30)
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--mass", type=float, nargs="+", default=[0.3, MIXTURE_MASS, 0.7])
    args = ap.parse_args()
    print("| data | rule | flagged (flips) | precision | recall | estimated share (true) |")
    print("|---|---|---|---|---|---|")
    for name in args.datasets:
        Z, labels = embeddings(name)
        classes, y = np.unique(labels, return_inverse=True)
        rows: dict[str, list[tuple[float, float, float, float]]] = {}
        for draw in range(args.draws):
            rng = np.random.default_rng(draw)
            noisy, moved = flipped(y, len(classes), args.rate, rng)
            proba = out_of_fold(Z, noisy, draw)
            truth = set(moved.tolist())
            rules = {"uncapped": (False, MIXTURE_MASS)} | {
                f"capped, mass {m:g}": (True, m) for m in args.mass
            }
            for rule, (cap, mass) in rules.items():
                share = estimated_error_share(noisy, proba, mass=mass)
                issues = find_label_issues(noisy, proba, list(classes), cap=False)
                if cap:  # the product's cap at this mass: the least self-confident of the filter's
                    issues = issues[: int(round(share * len(y)))]
                if cap and mass == MIXTURE_MASS:  # the same list the product flags
                    product = find_label_issues(noisy, proba, list(classes))
                    assert [i.index for i in issues] == [i.index for i in product]
                got = {i.index for i in issues}
                hit = len(got & truth)
                rows.setdefault(rule, []).append(
                    (len(got), hit / len(got) if got else 1.0, hit / len(truth), share)
                )
        for rule, values in rows.items():
            v = np.array(values)
            print(
                f"| {name} | {rule} | {v[:, 0].mean():.1f} ({len(moved)}) | {v[:, 1].mean():.2f} ± {v[:, 1].std():.2f} "
                f"| {v[:, 2].mean():.2f} ± {v[:, 2].std():.2f} | {v[:, 3].mean():.3f} ± {v[:, 3].std():.3f} "
                f"({args.rate:g}) |",
                flush=True,
            )


if __name__ == "__main__":
    main()
