"""Which selection policy ships the better model, judged on train only? A nested comparison
on searches already run (``bench_estimates.py --keep DIR``): the trials' stored out-of-fold
predictions (first CV repeat, on the train split) are cut many times into rows a policy
chooses on, with its own bootstrap estimates, and rows its choice is scored on. A policy is a
gate: the share of paired resamples on which an ensemble or a pipeline trained on the pool
must beat the best simple choice before it replaces it (0 ships whichever option estimates
highest; above 1 never ships a complex option). No test split is read.

    python benchmarks/bench_selection.py DIR [--splits 30] [--gates 0 0.5 0.7 0.8 0.9 1.01]

With ``--objectives metric log_loss`` each gate is also run with the greedy ensemble climbing
each objective (``selection.ENSEMBLE_OBJECTIVE``); columns are then ``objective@gate``.
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
from common import study_of

from automl.data.load import load_dataset
from automl.pipeline.metrics import METRICS, score_many
from automl.search import selection
from automl.search.orchestrator import encode_labels
from automl.search.selection import (
    RULES,
    Chooser,
    Pool,
    candidates,
    decide,
    estimate_options,
    first_repeat_folds,
    options,
    shortlist,
)
from automl.search.study import stored_problem

os.environ.setdefault("HF_HUB_OFFLINE", "1")
INNER_SHARE = 0.632  # the unique rows of a bootstrap: the policy chooses on as many as BBC does
INNER_BOOT = 50  # bootstrap resamples inside each split (the product uses 100)


def evaluate(run: Path, gates: list[float], splits: int) -> dict[float, list[float]] | None:
    """Outer-row scores of each gate's choice, one per split (with the ensemble objective
    ``selection.ENSEMBLE_OBJECTIVE`` as set)."""
    study = study_of(run / "runs" / "optuna.db")
    problem = stored_problem(study)
    assert problem is not None
    metric = METRICS.get(problem.metric)
    _, y = encode_labels(load_dataset(problem.data).y)
    cands = shortlist(candidates(study.get_trials(deepcopy=False)), metric)
    if len(cands) < 2:
        return None
    pool = Pool.of(cands)
    folds = first_repeat_folds(problem.folds)
    chooser, opts = Chooser.of(pool), options(pool, tuple(RULES))
    out: dict[float, list[float]] = defaultdict(list)
    for split in range(splits):
        rng = np.random.default_rng(1000 + split)
        chosen = rng.random(len(y)) < INNER_SHARE
        inner, outer = np.flatnonzero(chosen), np.flatnonzero(~chosen)
        ests = estimate_options(chooser, opts, y, folds, metric, inner, INNER_BOOT, seed=split)
        weights: dict[int, np.ndarray] = {}
        for gate in gates:
            i, _ = decide(opts, ests, metric, gate)
            if i not in weights:
                weights[i] = chooser.weights(opts[i], y, inner, folds=folds, metric=metric)
            shipped = np.tensordot(weights[i], pool.probas[:, outer], axes=1)
            out[gate].append(float(score_many(metric, y[outer], shipped[None])[0]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="a bench_estimates.py --keep folder")
    parser.add_argument("--splits", type=int, default=30)
    parser.add_argument("--gates", type=float, nargs="+", default=[0.0, 0.5, 0.7, 0.8, 0.9, 1.01])
    parser.add_argument("--objectives", nargs="+", choices=["metric", "log_loss"])
    args = parser.parse_args()
    objectives = args.objectives or [selection.ENSEMBLE_OBJECTIVE]

    def column(objective: str, gate: float) -> str:
        return f"{objective}@{gate:g}" if args.objectives else f"gate {gate:g}"

    columns = [column(o, g) for o in objectives for g in args.gates]
    rows = []
    for run in sorted(p for p in args.runs.iterdir() if (p / "runs" / "optuna.db").is_file()):
        means: dict[str, float] = {}
        for objective in objectives:
            selection.ENSEMBLE_OBJECTIVE = objective
            scores = evaluate(run, args.gates, args.splits)
            if scores is None:
                break
            for g, v in scores.items():
                means[column(objective, g)] = float(np.mean(v))
        if not means:
            continue
        rows.append((run.name, means))
        print(run.name, " ".join(f"{c}:{m:.4f}" for c, m in means.items()), flush=True)
    print(f"\nheld-out score of each policy's choice (mean over {args.splits} splits per search)")
    print(f"{'search':28}" + "".join(f"{c:>16}" for c in columns))
    for name, means in rows:
        print(f"{name:28}" + "".join(f"{means[c]:16.4f}" for c in columns))
    table = np.array([[m[c] for c in columns] for _, m in rows])
    print(f"{'mean':28}" + "".join(f"{v:16.4f}" for v in table.mean(0)))
    base = table[:, 0:1]
    diff = table - base
    first = columns[0]
    print(f"{'vs ' + first + ': mean':28}" + "".join(f"{m:+16.4f}" for m in diff.mean(0)))
    print(f"{'  sd over searches':28}" + "".join(f"{s:16.4f}" for s in diff.std(0)))
    print(f"{'  searches better':28}" + "".join(f"{(c > 1e-9).sum():16d}" for c in diff.T))
    print(f"{'  searches worse':28}" + "".join(f"{(c < -1e-9).sum():16d}" for c in diff.T))
    for kind in ("pool", "labelled"):
        sub = np.array([[m[c] for c in columns] for n, m in rows if f"-{kind}-" in n])
        if len(sub):
            print(f"{'mean, ' + kind:28}" + "".join(f"{v:16.4f}" for v in sub.mean(0)))
    for data in sorted({n.rsplit("-", 2)[0] for n, _ in rows}):
        sub = np.array([[m[c] for c in columns] for n, m in rows if n.rsplit("-", 2)[0] == data])
        print(f"{'mean, ' + data:28}" + "".join(f"{v:16.4f}" for v in sub.mean(0)))


if __name__ == "__main__":
    main()
