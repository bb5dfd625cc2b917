"""Which out-of-fold probabilities and which filter find wrong labels best? A simulation on
train only, on searches already run (``bench_estimates.py --keep DIR``, labelled-only runs):
10% of the labels are flipped to another class at random, and each way of flagging issues is
scored by precision and recall against the flips. The trials' stored out-of-fold predictions
came from models trained on the clean labels, so absolute figures are optimistic (a real search
on flipped labels trains on the noise too: ``bench_label_efficiency.py --parts issues``); the
comparison between the ways is what this is for. No test split is read.

    python benchmarks/bench_label_issue_rules.py DIR [--flips 20] [--rate 0.1]
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
from common import study_of

from automl.data.load import load_dataset
from automl.labelling.issues import FILTERS, find_label_issues
from automl.pipeline.metrics import METRICS, score_many
from automl.search.orchestrator import encode_labels
from automl.search.selection import candidates
from automl.search.study import stored_problem

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TOPS = (1, 5)  # out-of-fold probabilities: the mean over the k best trials (by noisy CV)
QUANTILES = (None, 0.5, 0.75, 0.9)  # per-class thresholds: the mean, or these quantiles
SHORT = {"prune_by_noise_rate": "prune", "confident_learning": "cl", "both": "both"}


def simulate(run: Path, flips: int, rate: float) -> dict[tuple[str, int], list[tuple[float, float]]]:
    study = study_of(run / "runs" / "optuna.db")
    problem = stored_problem(study)
    assert problem is not None
    _, y = encode_labels(load_dataset(problem.data).y)
    classes = [str(c) for c in problem.classes]
    k = len(classes)
    cands = candidates(study.get_trials(deepcopy=False))
    probas = np.stack([c.oof for c in cands])
    accuracy = METRICS.get("accuracy")
    out: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)
    for rep in range(flips):
        rng = np.random.default_rng(rep)
        flipped = rng.choice(len(y), int(round(rate * len(y))), replace=False)
        noisy = y.copy()
        noisy[flipped] = (y[flipped] + rng.integers(1, k, len(flipped))) % k
        # the search ranks its trials on the labels it was given, noise included
        order = np.argsort(-score_many(accuracy, noisy, probas), kind="stable")
        truth = set(flipped.tolist())
        for top in TOPS:
            oof = probas[order[:top]].mean(0)
            for name in FILTERS:
                for q in QUANTILES:
                    for cap in (False, True):
                        issues = find_label_issues(noisy, oof, classes, filter_by=name, quantile=q, cap=cap)
                        found = {i.index for i in issues}
                        hit = len(found & truth)
                        label = f"{SHORT[name]} q{q if q is not None else 'mean'}{' capped' if cap else ''}"
                        out[(label, top)].append((hit / len(found) if found else np.nan, hit / len(truth)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="a bench_estimates.py --keep folder")
    parser.add_argument("--flips", type=int, default=20, help="random flip draws per search")
    parser.add_argument("--rate", type=float, default=0.1)
    args = parser.parse_args()
    table: dict[str, dict[tuple[str, int], tuple[float, float]]] = {}
    for run in sorted(p for p in args.runs.iterdir() if "-labelled-" in p.name):
        if not (run / "runs" / "optuna.db").is_file():
            continue
        res = simulate(run, args.flips, args.rate)
        table[run.name] = {key: tuple(np.nanmean(np.array(v), 0)) for key, v in res.items()}
        print(run.name, "done", flush=True)
    keys = sorted(next(iter(table.values())))
    print(f"\nprecision / recall on {args.rate:.0%} flipped train labels, mean over {args.flips} draws")
    datasets = sorted({n.rsplit("-labelled-", 1)[0] for n in table})
    print(f"{'filter, threshold, top-k':26}" + "".join(f"{d:>18}" for d in datasets) + f"{'mean':>18}")
    for key in keys:
        cells = []
        for data in datasets:
            rows = [r[key] for n, r in table.items() if n.startswith(data + "-labelled-")]
            cells.append(np.mean(rows, 0))
        cells.append(np.mean(cells, 0))
        print(f"{key[0] + ' top' + str(key[1]):26}" + "".join(f"{p:11.2f} /{r:5.2f}" for p, r in cells))


if __name__ == "__main__":
    main()
