"""Does the unlabelled pool pay? `automl search` with and without `--unlabelled` at the same
budget on sst2-few (train.csv + unlabelled.csv) and cifar10-few (train/ + unlabelled/), then
`automl predict` on the held-out test split. With a pool the space adds self-supervised
continued pretraining (ssl.method: MLM for text, SimCLR/MoCo for images) and pseudo-labelling.
Prints test accuracy, wall time, the seconds spent on SSL adaptation (from the ``meta.json``
each adaptation writes, copied to ``<run>/ssl/``), and what the winning pipeline used.

    python benchmarks/bench_unlabelled.py --budget 30m [--datasets sst2-few cifar10-few] [--paired]

``--paired`` runs the two searches of a dataset at the same time, each with half the cores
(``--jobs``): both see the same machine load, and four 30-minute searches take one hour.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from common import folder_labels, search_and_predict

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass(frozen=True)
class Layout:
    train: str
    unlabelled: str
    test: str


LAYOUTS = {
    "sst2-few": Layout("train.csv", "unlabelled.csv", "test.csv"),
    "cifar10-few": Layout("train", "unlabelled", "test"),
    "trec-few": Layout("train.csv", "unlabelled.csv", "test.csv"),
    "fsdd-few": Layout("train", "unlabelled", "test"),
}


@dataclass(frozen=True)
class RunResult:
    accuracy: float
    seconds: float
    ssl_seconds: float
    ssl_runs: int
    best: str


def truth_of(name: str, pred: pd.DataFrame) -> pd.Series:
    test = DATA / name / LAYOUTS[name].test
    if test.is_dir():
        return folder_labels(pred)
    return pd.read_csv(test)["label"].astype(str)


def run(name: str, budget: str, pool: bool, jobs: int | None, log: Path | None) -> RunResult:
    layout = LAYOUTS[name]
    extra = ["--unlabelled", str(DATA / name / layout.unlabelled)] if pool else []
    if jobs:
        extra += ["--jobs", str(jobs)]
    with tempfile.TemporaryDirectory() as tmp:
        work, t0 = Path(tmp), time.perf_counter()
        pred = search_and_predict(
            DATA / name / layout.train, DATA / name / layout.test, budget, work, *extra, log=log
        )
        seconds = time.perf_counter() - t0
        run_dir = next((work / "runs").glob("*/model")).parent
        metas = [json.loads(p.read_text()) for p in run_dir.glob("ssl/*/meta.json")]
        summary = json.loads((run_dir / "summary.json").read_text())
    accuracy = float((pred["prediction"].astype(str) == truth_of(name, pred)).mean())
    return RunResult(
        accuracy,
        seconds,
        sum(m["seconds"] for m in metas),
        len(metas),
        describe_best(summary["best_pipeline"]),
    )


def describe_best(spec: dict) -> str:
    parts = [spec["learner"]["name"]]
    if spec.get("features"):
        parts.insert(0, spec["features"]["name"])
    ssl = [c["params"].get("ssl.method") for c in (spec["learner"], spec.get("features")) if c]
    ssl = next((m for m in ssl if m and m != "none"), None)
    if ssl:
        parts.append(f"ssl={ssl}")
    if spec.get("semi"):
        parts.append(f"semi={spec['semi']['name']}")
    return " ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="30m", help="search budget per run (two runs per dataset)")
    parser.add_argument("--datasets", nargs="+", default=["sst2-few", "cifar10-few"], choices=sorted(LAYOUTS))
    parser.add_argument(
        "--paired",
        action="store_true",
        help="run with and without the pool at the same time, half the cores each",
    )
    parser.add_argument("--logs", type=Path, help="with --paired: folder for each search's log")
    args = parser.parse_args()
    jobs = max(1, (os.cpu_count() or 2) // 2) if args.paired else None
    rows = []
    for name in args.datasets:

        def one(pool: bool, name: str = name) -> RunResult:
            log = None
            if args.paired:
                folder = args.logs or Path(tempfile.gettempdir())
                folder.mkdir(parents=True, exist_ok=True)
                log = folder / f"{name}-{'pool' if pool else 'labelled'}.log"
            return run(name, args.budget, pool, jobs, log)

        with ThreadPoolExecutor(2 if args.paired else 1) as ex:
            results = list(ex.map(one, (False, True)))
        for pool, res in zip((False, True), results):
            rows.append((name, "with pool" if pool else "labelled only", res))
            print(
                f"[{name}] {rows[-1][1]}: accuracy {res.accuracy:.3f} in {res.seconds:.0f}s, "
                f"SSL {res.ssl_seconds:.0f}s over {res.ssl_runs} adaptation(s); best: {res.best}",
                flush=True,
            )
    how = f", paired: both runs at once with --jobs {jobs}" if args.paired else ""
    print(f"\ntest accuracy, automl budget {args.budget} per run{how}")
    print(f"{'dataset':12} {'run':14} {'accuracy':>8} {'wall time':>10} {'SSL time':>9}  best pipeline")
    for name, label, r in rows:
        print(f"{name:12} {label:14} {r.accuracy:8.3f} {r.seconds:9.0f}s {r.ssl_seconds:8.0f}s  {r.best}")


if __name__ == "__main__":
    main()
