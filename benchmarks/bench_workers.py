"""Scale-out throughput: finished trials per minute with 1, 2 and 3 processes on one study
(the `automl search` that creates it plus 0-2 `automl worker`s), on cheap tabular trials,
against PostgreSQL (default: the local server) or a journal file.

    python benchmarks/bench_workers.py [--storage postgresql://postgres@127.0.0.1:5432/test]
                                       [--seconds 90] [--processes 1 2 3]

Each process runs one thread (workers x threads should not exceed the cores). The figures
are ratios to one process measured in the same run; on a 2-core machine 3 processes cannot
beat 2 by much.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import optuna

SPACE = """# purpose: throughput benchmark  # cost: about a second per trial
learners:
  logreg: {}
  extra_trees: {n_estimators: {low: 50, high: 150}}
features:
  tabular: {scaler: standard}
start: []
"""


def run(n: int, storage: str, seconds: int, work: Path) -> tuple[int, float]:
    from sklearn.datasets import load_breast_cancer

    data = work / "cancer.csv"
    if not data.exists():
        frame = load_breast_cancer(as_frame=True).frame
        frame["label"] = np.where(frame.pop("target") == 1, "benign", "malignant")
        frame.to_csv(data, index=False)
        (work / "space.yaml").write_text(SPACE)
    study = f"bench-{n}-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "automl"]
    lead = subprocess.Popen(
        cli
        + [
            "search",
            "--data",
            str(data),
            "--space",
            str(work / "space.yaml"),
            "--budget",
            f"{seconds}s",
            "--storage",
            storage,
            "--study",
            study,
            "--output",
            str(work / f"runs{n}"),
            "--jobs",
            "1",
            "-q",
        ],
        env=env,
    )
    while True:  # workers join once the study holds its problem definition
        try:
            if "automl.settings" in optuna.load_study(study_name=study, storage=storage).user_attrs:
                break
        except KeyError:
            pass
        time.sleep(0.3)
    workers = [
        subprocess.Popen(cli + ["worker", "--storage", storage, "--study", study, "-q"], env=env)
        for _ in range(n - 1)
    ]
    for p in [lead, *workers]:
        p.wait()
    s = optuna.load_study(study_name=study, storage=storage)
    done = [t for t in s.trials if t.state.is_finished() and t.datetime_complete]
    start = min(t.datetime_start for t in done)
    span = (max(t.datetime_complete for t in done) - start).total_seconds()
    optuna.delete_study(study_name=study, storage=storage)
    return len(done), len(done) / span * 60 if span else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--seconds", type=int, default=90)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.processes:
            trials, per_min = run(n, args.storage, args.seconds, Path(tmp))
            rows.append((n, trials, per_min))
            print(f"{n} process(es): {trials} trials, {per_min:.1f}/min", flush=True)
    base = rows[0][2] or 1.0
    print(
        f"\nthroughput on {'PostgreSQL' if 'postgres' in args.storage else 'journal'} "
        f"storage, {args.seconds}s budget, {os.cpu_count()} cores"
    )
    print(f"{'processes':>9} {'trials':>7} {'trials/min':>11} {'vs 1':>6}")
    for n, trials, per_min in rows:
        print(f"{n:9d} {trials:7d} {per_min:11.1f} {per_min / base:6.2f}x")


if __name__ == "__main__":
    main()
