"""Label efficiency, simulated with the oracle labels of the pools (shared/datasets/oracle, read
only for the items the tool asks about):

- active learning: search on `train`, ask `automl suggest` for K pool items (cifar 100, sst2 32,
  trec 48), add their oracle labels, search again with the same budget and score on `test`;
  the same with K random pool items; per strategy and seed. Prints mean and spread.
- forecast: search on a random half of `train` per class; its learning curve's 2x forecast
  against the CV estimate and the test score of the search on the full `train`.
- label issues: flip 10% of `train`'s labels, search, and score `label_issues.csv` against the
  flipped items (precision, recall).

    python benchmarks/bench_label_efficiency.py --budget 5m --seeds 3 [--parts al forecast issues]
        [--base DIR]   # reuse searches of bench_estimates.py --keep DIR as the full-train runs

Runs go two at a time with --jobs 1 each; results are appended to --results as they finish
and a rerun skips what is there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from bench_unlabelled import DATA, LAYOUTS, truth_of
from common import search_and_predict

from automl.labelling.pool import DEFAULT_STRATEGY

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ORACLE = DATA / "oracle"
K = {"cifar10-few": 100, "sst2-few": 32, "trec-few": 48}


def table(name: str, part: str) -> pd.DataFrame:
    return pd.read_csv(DATA / name / f"{part}.csv")


def oracle(name: str) -> pd.DataFrame:
    return pd.read_csv(ORACLE / name / "unlabelled_labels.csv")


def write_train(
    name: str,
    folder: Path,
    rows: pd.DataFrame | None = None,
    files: list[tuple[Path, str]] = (),
    keep: np.ndarray | None = None,
    flip: dict | None = None,
) -> Path:
    """A training set in the dataset's layout: ``train`` (optionally only rows/files ``keep``,
    with labels ``flip``-ped) plus extra labelled ``rows`` (text) or ``files`` (images)."""
    folder.mkdir(parents=True, exist_ok=True)
    if LAYOUTS[name].train.endswith(".csv"):
        df = table(name, "train")
        if keep is not None:
            df = df.iloc[keep]
        if flip:
            df = df.copy()
            df["label"] = [flip.get(i, lab) for i, lab in zip(df.index, df["label"])]
        if rows is not None:
            df = pd.concat([df, rows[["text", "label"]]], ignore_index=True)
        path = folder / "train.csv"
        df.to_csv(path, index=False)
        return path
    root = folder / "train"
    items = sorted((DATA / name / "train").glob("*/*"))
    for i, src in enumerate(items):
        if keep is not None and i not in set(keep.tolist()):
            continue
        label = (flip or {}).get(i, src.parent.name)
        (root / label).mkdir(parents=True, exist_ok=True)
        os.symlink(src, root / label / src.name)
    for src, label in files:
        (root / label).mkdir(parents=True, exist_ok=True)
        os.symlink(src, root / label / f"pool-{src.name}")
    return root


def items_of(name: str) -> tuple[list, np.ndarray]:
    """Train items in the order write_train numbers them, and their labels."""
    if LAYOUTS[name].train.endswith(".csv"):
        df = table(name, "train")
        return list(df.index), df["label"].astype(str).to_numpy()
    items = sorted((DATA / name / "train").glob("*/*"))
    return items, np.array([p.parent.name for p in items])


def search(name: str, train: Path, work: Path, budget: str, seed: int) -> tuple[float, dict]:
    work.mkdir(parents=True, exist_ok=True)
    pred = search_and_predict(
        train,
        DATA / name / LAYOUTS[name].test,
        budget,
        work,
        "--seed",
        str(seed),
        "--jobs",
        "1",
        log=work / "search.log",
    )
    summary = json.loads(next((work / "runs").glob("*/summary.json")).read_text())
    return float((pred["prediction"].astype(str) == truth_of(name, pred)).mean()), summary


def labels_for(name: str, chosen: list[str]) -> pd.DataFrame | list[tuple[Path, str]]:
    """The oracle's labels of the pool items ``chosen`` (rows "row N" of unlabelled.csv, or files)."""
    truth = oracle(name)
    if LAYOUTS[name].train.endswith(".csv"):
        rows = [int(item.split()[-1]) - 2 for item in chosen]  # "row N": line N, header = line 1
        picked = truth.set_index("row").loc[rows].reset_index()
        return picked[["text", "label"]]
    by_file = truth.set_index("file")["label"].astype(str)
    return [(Path(item), by_file[Path(item).name]) for item in chosen]


def run_al(name: str, seed: int, budget: str, work: Path, base: Path | None, strategy: str) -> list[dict]:
    """The full-train search (or the one from --base), then suggest-and-label vs random."""
    full = work / "full"
    if base is not None and (base / f"{name}-labelled-{seed}").is_dir():
        full = base / f"{name}-labelled-{seed}"
        summary = json.loads(next((full / "runs").glob("*/summary.json")).read_text())
        pred = pd.read_csv(full / "pred.csv")
        test0 = float((pred["prediction"].astype(str) == truth_of(name, pred)).mean())
    else:
        test0, summary = search(name, DATA / name / LAYOUTS[name].train, full, budget, seed)
    model = next((full / "runs").glob("*/model"))
    pool = DATA / name / LAYOUTS[name].unlabelled
    out = []
    for how in (strategy, "random"):
        picks = work / f"{how}.csv"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "automl",
                "suggest",
                "--model",
                str(model),
                "--pool",
                str(pool),
                "--n",
                str(K[name]),
                "--strategy",
                how,
                "--seed",
                str(seed),
                "--out",
                str(picks),
                "-q",
            ],
            check=True,
            cwd=work,
        )
        chosen = pd.read_csv(picks)["item"].astype(str).tolist()
        extra = labels_for(name, chosen)
        if isinstance(extra, pd.DataFrame):
            train = write_train(name, work / how, rows=extra)
        else:
            train = write_train(name, work / how, files=extra)
        test, summ = search(name, train, work / f"{how}-search", budget, seed)
        out.append(
            {
                "part": "al",
                "dataset": name,
                "seed": seed,
                "strategy": how,
                "k": K[name],
                "test_before": test0,
                "test": test,
                "estimate": summ.get("shipped", {}).get("estimate", {}).get("mean"),
            }
        )
    return out


def run_forecast(name: str, seed: int, budget: str, work: Path, base: Path | None) -> dict:
    """A search on half of train per class forecasts 2x; compared with the full-train search."""
    from automl.labelling.curve import subsample_per_class

    _, y = items_of(name)
    half = np.sort(subsample_per_class(y, 0.5, seed=seed))
    test_half, summary_half = search(
        name, write_train(name, work / "half", keep=half), work / "half-search", budget, seed
    )
    full_dir = base / f"{name}-labelled-{seed}" if base is not None else None
    if full_dir is not None and full_dir.is_dir():
        summary = json.loads(next((full_dir / "runs").glob("*/summary.json")).read_text())
        pred = pd.read_csv(full_dir / "pred.csv")
        test_full = float((pred["prediction"].astype(str) == truth_of(name, pred)).mean())
    else:
        test_full, summary = search(name, DATA / name / LAYOUTS[name].train, work / "full", budget, seed)
    curve = json.loads((next((work / "half-search" / "runs").glob("*/learning_curve.json"))).read_text())
    forecast = curve["curves"][0]["forecasts"]["2"] if curve["curves"] else [None, None, None]
    return {
        "part": "forecast",
        "dataset": name,
        "seed": seed,
        "forecast_2x": forecast[0],
        "forecast_low": forecast[1],
        "forecast_high": forecast[2],
        "half_test": test_half,
        "full_estimate": summary.get("shipped", {}).get("estimate", {}).get("mean"),
        "full_test": test_full,
    }


def run_issues(name: str, seed: int, budget: str, work: Path) -> dict:
    items, y = items_of(name)
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(y), int(round(0.1 * len(y))), replace=False)
    classes = np.unique(y)
    flip = {int(i): str(rng.choice([c for c in classes if c != y[i]])) for i in flipped}
    kept = list((work / "search" / "runs").glob("*/label_issues.csv"))
    if not kept:  # a --keep folder from an earlier run already holds the search
        train = write_train(name, work / "flipped", flip=flip)
        search(name, train, work / "search", budget, seed)
        kept = list((work / "search" / "runs").glob("*/label_issues.csv"))
    issues = pd.read_csv(kept[0])
    if LAYOUTS[name].train.endswith(".csv"):
        # Text rows are listed by their text; the flips were made by row of train.csv.
        row_of: dict[str, int] = {}
        for i, text in enumerate(table(name, "train")["text"].astype(str)):
            row_of.setdefault(text, i)
        found = {row_of[str(item)] for item in issues["item"] if str(item) in row_of}
    else:
        # By the whole resolved path: file names repeat across class folders (cifar10-few has
        # four such pairs), and the flipped copy links to the original files.
        index = {str(Path(p).resolve()): i for i, p in enumerate(items)}
        found = {index[k] for k in (str(Path(str(item)).resolve()) for item in issues["item"]) if k in index}
    hit = len(found & set(int(i) for i in flipped))
    return {
        "part": "issues",
        "dataset": name,
        "seed": seed,
        "flipped": len(flipped),
        "flagged": len(found),
        "precision": hit / max(1, len(found)),
        "recall": hit / len(flipped),
    }


def report(rows: list[dict], strategy: str) -> None:
    def ms(v):
        v = np.asarray([x for x in v if x is not None], dtype=float)
        return f"{v.mean():.3f} ± {v.std():.3f}" if len(v) else "n/a"

    al = [r for r in rows if r["part"] == "al"]
    if al:
        print("\nactive learning: test accuracy after adding K labels (mean ± std over seeds)")
        print(f"{'dataset':12} {'K':>4} {'before':>15} {strategy:>15} {'random':>15} {'gain':>7}")
        for name in sorted({r["dataset"] for r in al}):
            mine = [r for r in al if r["dataset"] == name]
            s = [r["test"] for r in mine if r["strategy"] == strategy]
            rnd = [r["test"] for r in mine if r["strategy"] == "random"]
            gain = np.mean(s) - np.mean(rnd) if s and rnd else float("nan")
            print(
                f"{name:12} {mine[0]['k']:4d} {ms([r['test_before'] for r in mine if r['strategy'] == 'random']):>15} "
                f"{ms(s):>15} {ms(rnd):>15} {100 * gain:+6.1f}"
            )
    fc = [r for r in rows if r["part"] == "forecast"]
    if fc:
        print("\nforecast at 2x labels (search on half of train) vs the search on all of train:")
        print(f"{'dataset':12} {'forecast':>15} {'full CV est.':>15} {'full test':>15} {'|fc - test|':>11}")
        for name in sorted({r["dataset"] for r in fc}):
            mine = [r for r in fc if r["dataset"] == name and r["forecast_2x"] is not None]
            err = [abs(r["forecast_2x"] - r["full_test"]) for r in mine]
            print(
                f"{name:12} {ms([r['forecast_2x'] for r in mine]):>15} {ms([r['full_estimate'] for r in mine]):>15} "
                f"{ms([r['full_test'] for r in mine]):>15} {100 * np.mean(err) if err else float('nan'):10.1f}"
            )
    li = [r for r in rows if r["part"] == "issues"]
    if li:
        print("\nlabel issues on 10% flipped training labels:")
        for name in sorted({r["dataset"] for r in li}):
            mine = [r for r in li if r["dataset"] == name]
            print(
                f"{name:12} precision {ms([r['precision'] for r in mine])}, recall {ms([r['recall'] for r in mine])} "
                f"({mine[0]['flipped']} flipped)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="5m")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--parts", nargs="+", default=["al", "forecast", "issues"])
    parser.add_argument("--datasets", nargs="+", default=list(K))
    parser.add_argument("--strategy", default=DEFAULT_STRATEGY, help="the suggestion strategy against random")
    parser.add_argument(
        "--base", type=Path, help="bench_estimates.py --keep folder: reuse its full-train runs"
    )
    parser.add_argument("--results", type=Path, default=Path("bench_label_efficiency.jsonl"))
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep each job's searches and logs here")
    args = parser.parse_args()
    done = [json.loads(x) for x in args.results.read_text().splitlines()] if args.results.is_file() else []

    def key(r: dict) -> tuple:
        return (r["part"], r["dataset"], r["seed"], r.get("strategy"))

    jobs = []
    for seed in range(args.seeds):
        for name in args.datasets:
            if "al" in args.parts and not any(key(r) == ("al", name, seed, args.strategy) for r in done):
                jobs.append(("al", name, seed))
            if "forecast" in args.parts and not any(key(r)[:3] == ("forecast", name, seed) for r in done):
                jobs.append(("forecast", name, seed))
            if (
                "issues" in args.parts
                and name != "sst2-few"
                and not any(key(r)[:3] == ("issues", name, seed) for r in done)
            ):
                jobs.append(("issues", name, seed))

    def one(job: tuple) -> list[dict]:
        part, name, seed = job
        with tempfile.TemporaryDirectory() as tmp:
            work = args.keep / f"{part}-{name}-{seed}" if args.keep else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            if part == "al":
                rows = run_al(name, seed, args.budget, work, args.base, args.strategy)
            elif part == "forecast":
                rows = [run_forecast(name, seed, args.budget, work, args.base)]
            else:
                rows = [run_issues(name, seed, args.budget, work)]
        with open(args.results, "a") as f:
            for r in rows:
                f.write(json.dumps({**r, "budget": args.budget}) + "\n")
        print(f"done {job}", flush=True)
        return rows

    with ThreadPoolExecutor(args.parallel) as ex:
        for rows in ex.map(one, jobs):
            done += rows
    report(done, args.strategy)


if __name__ == "__main__":
    main()
