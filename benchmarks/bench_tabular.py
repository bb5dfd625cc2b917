"""Tabular benchmark: `automl search` at a fixed budget vs plain baselines, on held-out rows.

Each table is split once (stratified, fixed seed) into a small labelled training set, which is
all the search sees, and a holdout used only for the final score. Run:

    python benchmarks/bench_tabular.py --budget 60s

Prints holdout accuracy and wall time for automl, plain logistic regression (scaled, default C)
and plain XGBoost (library defaults).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

TABLES = {
    # name: (loader, labelled training rows)
    "breast_cancer": (datasets.load_breast_cancer, 150),
    "wine": (datasets.load_wine, 90),
    "digits": (datasets.load_digits, 300),
    "iris": (datasets.load_iris, 60),
}


def split(name: str, n_train: int, seed: int = 0):
    data = datasets_frame(name)
    train, test = train_test_split(data, train_size=n_train, stratify=data["label"], random_state=seed)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def datasets_frame(name: str) -> pd.DataFrame:
    loader, _ = TABLES[name]
    d = loader(as_frame=True)
    frame = d.frame.rename(columns={"target": "label"})
    return frame


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def plain_logreg(train, test) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    model.fit(train.drop(columns="label"), train["label"])
    return float((model.predict(test.drop(columns="label")) == test["label"]).mean())


def plain_xgboost(train, test) -> float:
    import xgboost as xgb

    model = xgb.XGBClassifier(n_jobs=2, verbosity=0)
    model.fit(train.drop(columns="label"), train["label"])
    return float((model.predict(test.drop(columns="label")) == test["label"]).mean())


def run_automl(train, test, budget: str, work: Path, name: str) -> float:
    train_csv, test_csv, preds = work / f"{name}.csv", work / f"{name}-test.csv", work / f"{name}-pred.csv"
    train.to_csv(train_csv, index=False)
    test.drop(columns="label").to_csv(test_csv, index=False)
    out = work / "runs"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "automl",
            "search",
            "--data",
            str(train_csv),
            "--label",
            "label",
            "--budget",
            budget,
            "--output",
            str(out),
            "-q",
        ],
        check=True,
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "automl",
            "predict",
            "--model",
            str(out / name / "model"),
            "--data",
            str(test_csv),
            "--out",
            str(preds),
            "-q",
        ],
        check=True,
    )
    pred = pd.read_csv(preds)["prediction"].to_numpy()
    return float((pred == test["label"].to_numpy()).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="60s")
    parser.add_argument("--tables", nargs="*", default=list(TABLES))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.tables:
            train, test = split(name, TABLES[name][1])
            lr, lr_t = timed(plain_logreg, train, test)
            xg, xg_t = timed(plain_xgboost, train, test)
            am, am_t = timed(run_automl, train, test, args.budget, Path(tmp), name)
            rows.append((name, len(train), len(test), am, am_t, lr, lr_t, xg, xg_t))
            print(f"{name}: automl {am:.3f} ({am_t:.0f}s)  logreg {lr:.3f}  xgboost {xg:.3f}", flush=True)
    print(f"\nholdout accuracy, automl budget {args.budget} (wall time includes start-up and predict)")
    print(
        f"{'table':14} {'train':>5} {'test':>5} | {'automl':>7} {'time':>6} | {'logreg':>7} {'time':>6} | {'xgboost':>7} {'time':>6}"
    )
    for name, ntr, nte, am, am_t, lr, lr_t, xg, xg_t in rows:
        print(
            f"{name:14} {ntr:5d} {nte:5d} | {am:7.3f} {am_t:5.0f}s | {lr:7.3f} {lr_t:5.1f}s | {xg:7.3f} {xg_t:5.1f}s"
        )
    means = np.mean([[r[3], r[5], r[7]] for r in rows], axis=0)
    print(f"{'mean':26} | {means[0]:7.3f} {'':6} | {means[1]:7.3f} {'':6} | {means[2]:7.3f}")


if __name__ == "__main__":
    main()
