"""Does the unlabelled pool pay? `automl search` with and without `--unlabelled` at the same
budget on sst2-few (train.csv + unlabelled.csv) and cifar10-few (train/ + unlabelled/), then
`automl predict` on the held-out test split. With a pool the space adds self-supervised
continued pretraining (ssl.method: MLM for text, SimCLR/MoCo for images) and pseudo-labelling.
Prints test accuracy, wall time, the seconds spent on SSL adaptation (from the ``meta.json``
each adaptation writes, copied to ``<run>/ssl/``), and what the winning pipeline used.

    python benchmarks/bench_unlabelled.py --budget 30m [--datasets sst2-few cifar10-few]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass(frozen=True)
class Layout:
    train: str
    unlabelled: str
    test: str


LAYOUTS = {"sst2-few": Layout("train.csv", "unlabelled.csv", "test.csv"),
           "cifar10-few": Layout("train", "unlabelled", "test"),
           "trec-few": Layout("train.csv", "unlabelled.csv", "test.csv"),
           "fsdd-few": Layout("train", "unlabelled", "test")}


@dataclass(frozen=True)
class RunResult:
    accuracy: float
    seconds: float
    ssl_seconds: float
    ssl_runs: int
    best: str


def truth_of(name: str, pred: pd.DataFrame) -> pd.Series:
    test = DATA / name / LAYOUTS[name].test
    if test.is_dir():  # class folders: the label is the parent folder's name
        return pred["path"].map(lambda p: Path(p).parent.name).astype(str)
    return pd.read_csv(test)["label"].astype(str)


def search_and_predict(name: str, budget: str, pool: bool, work: Path) -> RunResult:
    layout, out = LAYOUTS[name], work / "runs"
    cmd = [sys.executable, "-m", "automl", "search", "--data", str(DATA / name / layout.train),
           "--budget", budget, "--output", str(out)]
    if pool:
        cmd += ["--unlabelled", str(DATA / name / layout.unlabelled)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    model = next(out.glob("*/model"))
    subprocess.run([sys.executable, "-m", "automl", "predict", "--model", str(model), "--data",
                    str(DATA / name / layout.test), "--out", str(work / "pred.csv"), "-q"], check=True)
    seconds = time.perf_counter() - t0
    pred = pd.read_csv(work / "pred.csv")
    accuracy = float((pred["prediction"].astype(str) == truth_of(name, pred)).mean())
    metas = [json.loads(p.read_text()) for p in model.parent.glob("ssl/*/meta.json")]
    summary = json.loads((model.parent / "summary.json").read_text())
    return RunResult(accuracy, seconds, sum(m["seconds"] for m in metas), len(metas),
                     describe_best(summary["best_pipeline"]))


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
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        for pool in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                res = search_and_predict(name, args.budget, pool, Path(tmp))
            rows.append((name, "with pool" if pool else "labelled only", res))
            print(f"[{name}] {rows[-1][1]}: accuracy {res.accuracy:.3f} in {res.seconds:.0f}s, "
                  f"SSL {res.ssl_seconds:.0f}s over {res.ssl_runs} adaptation(s); best: {res.best}",
                  flush=True)
    print(f"\ntest accuracy, automl budget {args.budget} per run")
    print(f"{'dataset':12} {'run':14} {'accuracy':>8} {'wall time':>10} {'SSL time':>9}  best pipeline")
    for name, run, r in rows:
        print(f"{name:12} {run:14} {r.accuracy:8.3f} {r.seconds:9.0f}s {r.ssl_seconds:8.0f}s  {r.best}")


if __name__ == "__main__":
    main()
