"""Which `automl suggest` strategy should be the default? Decided on `train` only: no test
split and no oracle label is read, so the choice can't be tuned to what it is later scored on.

Each dataset's labelled `train` is split per class, many times over, into a seed set (30%), a
simulated pool (40%, its labels hidden until an item is picked) and an evaluation part (30%).
A fixed proxy, logistic regression on frozen embeddings (EfficientNet-Lite0 at 128 px, MiniLM,
Resemblyzer), is fit on the seed set; each strategy asks for half as many items as the seed set
holds (the ratio of the active-learning benchmark on cifar10-few), from the proxy's
probabilities and the embeddings (the same `rank_pool` that `automl suggest` runs); the proxy
is refit with the picked labels and scored on the evaluation part, which no strategy can pick
from (scoring on the unpicked pool instead would reward picking the hard items away). Prints
each strategy's accuracy gain over random picks (mean and standard error over splits) per
dataset, and their mean rank.

    python benchmarks/bench_suggest_strategies.py [--splits 40] [--datasets cifar10-few sst2-few trec-few fsdd-few]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from bench_unlabelled import DATA, LAYOUTS
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SEED_SHARE, POOL_SHARE = 0.3, 0.4  # of train; the remaining 30% scores the proxy
PICK_RATIO = 0.5  # items asked for, per item of the seed set


def embeddings(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Frozen, label-free embeddings of ``train`` and its labels."""
    from automl.data.load import load_dataset

    ds = load_dataset(DATA / name / LAYOUTS[name].train)
    if ds.modality == "image":
        from automl.components.images.embed import ImageEmbedding

        featuriser = ImageEmbedding(resolution=128)
    elif ds.modality == "text":
        from automl.components.text.features import TextEmbedding

        featuriser = TextEmbedding(encoder="minilm")
    else:
        from automl.components.audio.features import EncoderEmbedding

        featuriser = EncoderEmbedding()
    Z = np.asarray(featuriser.fit(ds.X).transform(ds.X), dtype=float)
    Z /= np.linalg.norm(Z, axis=1, keepdims=True) + 1e-12
    return Z, np.asarray(ds.y).astype(str)


def proxy(Z: np.ndarray, y: np.ndarray) -> LogisticRegression:
    # Fixed, not tuned: the proxy only has to rank the strategies the same way for all of them.
    return LogisticRegression(C=10.0, max_iter=2000).fit(Z, y)


def simulate(Z: np.ndarray, y: np.ndarray, strategies: list[str], split: int) -> dict[str, float]:
    """Accuracy on the evaluation part after one round of each strategy's picks."""
    from automl.labelling.suggest import rank_pool

    seed_idx, rest = train_test_split(
        np.arange(len(y)), train_size=SEED_SHARE, stratify=y, random_state=split
    )
    pool_idx, eval_idx = train_test_split(
        rest, train_size=POOL_SHARE / (1 - SEED_SHARE), stratify=y[rest], random_state=split
    )
    model = proxy(Z[seed_idx], y[seed_idx])
    proba = model.predict_proba(Z[pool_idx])
    classes = list(model.classes_)
    counts = np.array([(y[seed_idx] == c).sum() for c in classes], dtype=float)
    k = max(1, int(round(PICK_RATIO * len(seed_idx))))
    scores = {}
    for strategy in strategies:
        picks = rank_pool(
            proba,
            Z[pool_idx],
            Z[seed_idx],
            k,
            strategy=strategy,
            class_counts=counts,
            seed=split,
            classes=classes,
        )
        picked = pool_idx[[p.index for p in picks]]
        grown = np.concatenate([seed_idx, picked])
        scores[strategy] = float((proxy(Z[grown], y[grown]).predict(Z[eval_idx]) == y[eval_idx]).mean())
    return scores


def main() -> None:
    from automl.labelling.pool import DEFAULT_STRATEGY
    from automl.labelling.suggest import STRATEGIES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=40)
    parser.add_argument("--datasets", nargs="+", default=["cifar10-few", "sst2-few", "trec-few", "fsdd-few"])
    args = parser.parse_args()
    strategies = sorted(STRATEGIES.names())
    ranks: dict[str, list[float]] = {s: [] for s in strategies}
    print(f"accuracy gain over random on the evaluation part, points (mean ± s.e. over {args.splits} splits)")
    print(
        f"{'dataset':12} "
        + " ".join(f"{s:>16}" for s in strategies if s != "random")
        + f" {'random acc':>11}"
    )
    for name in args.datasets:
        Z, y = embeddings(name)
        runs = [simulate(Z, y, strategies, split) for split in range(args.splits)]
        gains = {s: 100 * np.array([r[s] - r["random"] for r in runs]) for s in strategies}
        means = {s: gains[s].mean() for s in strategies}
        for rank, s in enumerate(sorted(strategies, key=lambda s: -means[s]), 1):
            ranks[s].append(rank)
        cells = " ".join(
            f"{means[s]:+7.1f} ± {gains[s].std(ddof=1) / np.sqrt(len(runs)):4.1f}  "
            for s in strategies
            if s != "random"
        )
        print(f"{name:12} {cells} {np.mean([r['random'] for r in runs]):11.3f}", flush=True)
    print(
        "\nmean rank over datasets (1 = best): "
        + ", ".join(
            f"{s} {np.mean(ranks[s]):.1f}" for s in sorted(strategies, key=lambda s: np.mean(ranks[s]))
        )
    )
    print(f"current default: {DEFAULT_STRATEGY}")


if __name__ == "__main__":
    main()
