"""How honest is the number a search reports? For each dataset, with and without its
unlabelled pool, over several seeds: `automl search`, then `automl predict` on the held-out
test split. Prints, per run and as mean ± std over seeds, the shipped model's CV estimate
(summary.json: bootstrap bias-corrected CV of the selection), its test score and the gap,
next to the best single trial's CV (what a plain argmax would have claimed) and its gap; and
what the pool changed on test.

    python benchmarks/bench_estimates.py --budget 10m --seeds 3 [--datasets ...] [--parallel 2]

Runs go two at a time with ``--jobs 1`` each by default, so paired runs see the same load.
Results are appended to ``--results`` (JSON lines) as they finish; a run already there is not
repeated, so an interrupted benchmark resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from bench_unlabelled import DATA, LAYOUTS, truth_of
from common import search_and_predict, study_of

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run_one(
    name: str, pool: bool, seed: int, budget: str, jobs: int, keep: Path | None, reship: bool = False
) -> dict:
    """One search and its test score. With ``reship`` the kept search is resumed with
    ``--trials`` set to the trials it already has: no new trial runs, and the current code
    chooses, refits and exports what ships from the same trials."""
    layout = LAYOUTS[name]
    extra = ["--seed", str(seed), "--jobs", str(jobs)]
    if pool:
        extra += ["--unlabelled", str(DATA / name / layout.unlabelled)]
    with tempfile.TemporaryDirectory() as tmp:
        work = keep / f"{name}-{'pool' if pool else 'labelled'}-{seed}" if keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if reship:
            extra += ["--trials", str(trials_taken(work / "runs" / "optuna.db"))]
        t0 = time.perf_counter()
        pred = search_and_predict(
            DATA / name / layout.train,
            DATA / name / layout.test,
            budget,
            work,
            *extra,
            log=work / ("reship.log" if reship else "search.log"),
        )
        seconds = time.perf_counter() - t0
        summary = json.loads(next((work / "runs").glob("*/summary.json")).read_text())
    shipped = summary.get("shipped", {})
    estimate = shipped.get("estimate", {"mean": summary["best_value"]})
    return {
        "dataset": name,
        "pool": pool,
        "seed": seed,
        "budget": budget,
        "test": float((pred["prediction"].astype(str) == truth_of(name, pred)).mean()),
        "estimate": estimate.get("mean"),
        "estimate_low": estimate.get("low"),
        "estimate_high": estimate.get("high"),
        "best_trial_cv": summary["best_value"],
        "rule": shipped.get("rule"),
        "members": len(shipped.get("members", [1])),
        "trials": summary["trials"],
        "seconds": round(seconds, 1),
        "shipped": [p["learner"]["name"] for p in shipped.get("pipelines", [summary["best_pipeline"]])],
    }


def trials_taken(db: Path) -> int:
    from automl.search.quota import taken_trials

    return taken_trials(study_of(db))


def mean_sd(values: list[float]) -> str:
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v.mean():.3f}"


def report(rows: list[dict]) -> None:
    print(
        "\nper run: dataset pool seed | test | shipped estimate [range] | best-trial CV | rule | trials | s"
    )
    for r in sorted(rows, key=lambda r: (r["dataset"], r["pool"], r["seed"])):
        print(
            f"{r['dataset']:12} {'pool' if r['pool'] else '-':4} {r['seed']} | {r['test']:.3f} | "
            f"{r['estimate']:.3f} [{r['estimate_low'] or 0:.3f}-{r['estimate_high'] or 0:.3f}] | "
            f"{r['best_trial_cv']:.3f} | {r['rule']} x{r['members']} | "
            f"{sum(r['trials'].values())} | {r['seconds']:.0f}"
        )
    print(
        "\nmean ± std over seeds: test | shipped estimate | gap (estimate - test) | best-trial CV | its gap"
    )
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["pool"]), []).append(r)
    gaps, old_gaps = [], []
    for (name, pool), rs in sorted(groups.items()):
        test = [r["test"] for r in rs]
        est = [r["estimate"] for r in rs]
        cv = [r["best_trial_cv"] for r in rs]
        gap = [e - t for e, t in zip(est, test)]
        old = [c - t for c, t in zip(cv, test)]
        gaps += gap
        old_gaps += old
        print(
            f"{name:12} {'pool' if pool else '-':4} n={len(rs)} | {mean_sd(test)} | {mean_sd(est)} | "
            f"{mean_sd(gap)} | {mean_sd(cv)} | {mean_sd(old)}"
        )
    if gaps:
        print(
            f"\nmean |gap|: shipped estimate {np.mean(np.abs(gaps)):.3f}, best-trial CV {np.mean(np.abs(old_gaps)):.3f}; "
            f"mean gap {np.mean(gaps):+.3f} vs {np.mean(old_gaps):+.3f}"
        )
    print("\nwhat the pool changed on test (mean over seeds, with - without):")
    for name in sorted({r["dataset"] for r in rows}):
        with_pool = [r["test"] for r in groups.get((name, True), [])]
        without = [r["test"] for r in groups.get((name, False), [])]
        if with_pool and without:
            print(
                f"{name:12} {np.mean(with_pool) - np.mean(without):+.3f} ({len(with_pool)} vs {len(without)} runs)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="10m")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", nargs="+", default=["cifar10-few", "sst2-few", "trec-few", "fsdd-few"])
    parser.add_argument("--pool", choices=["both", "with", "without"], default="both")
    parser.add_argument(
        "--parallel", type=int, default=2, help="searches at once (each --jobs cores/parallel)"
    )
    parser.add_argument("--results", type=Path, default=Path("bench_estimates.jsonl"))
    parser.add_argument("--keep", type=Path, help="keep each run's folder here")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--reship",
        action="store_true",
        help="with --keep: resume each kept search without new trials, so the current code "
        "chooses and refits what ships from the same trials (write to another --results)",
    )
    args = parser.parse_args()
    done = (
        [json.loads(line) for line in args.results.read_text().splitlines()] if args.results.is_file() else []
    )
    pools = {"both": [False, True], "with": [True], "without": [False]}[args.pool]
    todo = [
        (n, p, s)
        for s in range(args.seeds)
        for n in args.datasets
        for p in pools
        if not any(
            d["dataset"] == n and d["pool"] == p and d["seed"] == s and d["budget"] == args.budget
            for d in done
        )
    ]
    if not args.report_only and todo:
        jobs = max(1, (os.cpu_count() or 2) // args.parallel)
        print(f"{len(todo)} run(s) to go, {args.parallel} at a time with --jobs {jobs}", flush=True)

        def one(item: tuple) -> dict:
            row = run_one(*item, args.budget, jobs, args.keep, args.reship)
            with open(args.results, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(
                f"done {row['dataset']} pool={row['pool']} seed={row['seed']}: test {row['test']:.3f}, "
                f"estimate {row['estimate']:.3f}, best-trial CV {row['best_trial_cv']:.3f}",
                flush=True,
            )
            return row

        with ThreadPoolExecutor(args.parallel) as ex:
            done += list(ex.map(one, todo))
    report([d for d in done if d["budget"] == args.budget])


if __name__ == "__main__":
    main()
