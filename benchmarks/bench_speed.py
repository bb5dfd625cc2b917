"""Where a short search's time goes, per modality, with and without the unlabelled pool:
time to the first finished trial, trials finished per minute, and the share of wall time spent
loading, embedding, on SSL, fitting, predicting, selecting, refitting, tracking and in the
report (summary.json's ``time``; ``other`` is Optuna, waiting and the display).

    python benchmarks/bench_speed.py --budget 5m [--datasets cifar10-few sst2-few fsdd-few table]
    python benchmarks/bench_speed.py --code /path/to/other/checkout   # the same on other code
    python benchmarks/bench_speed.py --keep DIR   # keep each search's folder and log in DIR

``table`` is 1,000 rows of scikit-learn's digits (64 numeric features, 10 classes) with 500
more rows as its pool. Searches run one at a time with every core (``--jobs``), as a user's
would. Counts come from the study itself, so an older checkout without ``time`` in its
summary still reports trials and the first trial's time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from bench_unlabelled import DATA, LAYOUTS
from common import study_of

from automl.config import Budget

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SHARES = ("load", "embedding", "ssl", "fit", "predict", "selection", "refit", "tracking", "report", "other")


def digits_table(root: Path) -> tuple[Path, Path]:
    from sklearn.datasets import load_digits

    df = load_digits(as_frame=True).frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    df = df.rename(columns={"target": "label"})
    train, pool = root / "digits-train.csv", root / "digits-pool.csv"
    df.iloc[:1000].to_csv(train, index=False)
    df.iloc[1000:1500].drop(columns="label").to_csv(pool, index=False)
    return train, pool


def run(name: str, pool: bool, budget: str, code: Path | None, work: Path, jobs: int) -> dict:
    if name == "table":
        train, unlabelled = digits_table(work)
    else:
        train = DATA / name / LAYOUTS[name].train
        unlabelled = DATA / name / LAYOUTS[name].unlabelled
    out = work / f"{name}-{'pool' if pool else 'labelled'}"
    if out.exists():  # automl search would resume it, not search afresh
        raise SystemExit(f"{out} exists: give --keep a folder without earlier runs")
    cmd = [
        sys.executable,
        "-m",
        "automl",
        "search",
        "--data",
        str(train),
        "--budget",
        budget,
        "--output",
        str(out),
        "--jobs",
        str(jobs),
    ]
    if pool:
        cmd += ["--unlabelled", str(unlabelled)]
    env = {**os.environ, **({"PYTHONPATH": str(code)} if code else {})}
    t0 = time.time()
    # From a neutral folder: `python -m` puts the working directory first on the path.
    with open(out.with_suffix(".log"), "w") as log:
        subprocess.run(cmd, env=env, cwd=work, stdout=log, stderr=log, check=True)
    return measure(name, pool, out, t0, time.time() - t0)


def measure(name: str, pool: bool, out: Path, t0: float, wall: float) -> dict:
    """One search's figures from its output folder; ``t0`` is when its command started."""
    study = study_of(out / "optuna.db")
    finished = [t for t in study.trials if t.state.is_finished()]
    complete = [t for t in finished if t.state == optuna.trial.TrialState.COMPLETE]
    ends = sorted(t.datetime_complete.timestamp() - t0 for t in complete if t.datetime_complete)
    summary = json.loads(next(out.glob("*/summary.json")).read_text())
    shares = summary.get("time", {})
    # When each strategy family first finished a trial, complete or pruned (a pruned trial
    # has answered too: the family was weighed and found behind).
    firsts: dict[str, float] = {}
    for t in finished:
        if t.datetime_complete and t.state != optuna.trial.TrialState.FAIL:
            end = t.datetime_complete.timestamp() - t0
            for family in _families(t):
                firsts[family] = min(end, firsts.get(family, end))
    return {
        "dataset": name,
        "pool": pool,
        "wall": wall,
        "first": ends[0] if ends else None,
        "complete": len(complete),
        "finished": len(finished),
        "per_min": len(finished) / (wall / 60),
        "shares": {k: shares.get(k) for k in SHARES},
        "families": sorted(set().union(*(_families(t) for t in complete))),
        "never": sorted(_allowed(study) - set(firsts)),
        "family_first": dict(sorted(firsts.items(), key=lambda kv: kv[1])),
        "budget": Budget.parse(summary["budget"]).seconds if summary.get("budget") else None,
    }


def from_runs(folder: Path) -> list[dict]:
    """Figures of searches kept by ``bench_estimates.py --keep`` (folders ``<data>-<pool|labelled>-<seed>``,
    5-minute searches two at a time with one thread each). The command's start is read back
    as summary.json's write time minus its wall time."""
    rows = []
    for run_dir in sorted(p for p in folder.iterdir() if (p / "runs" / "optuna.db").is_file()):
        name, kind, seed = run_dir.name.rsplit("-", 2)
        summary_path = next((run_dir / "runs").glob("*/summary.json"), None)
        if summary_path is None:  # still running, or stopped before its summary
            continue
        wall = json.loads(summary_path.read_text())["time"]["wall"]
        row = measure(name, kind == "pool", run_dir / "runs", summary_path.stat().st_mtime - wall, wall)
        rows.append({**row, "seed": int(seed)})
    return rows


# The strategy families of #17's anytime target, by the learner a trial fits and what it
# adds to a probe; a trial answers for every family it belongs to.
FINETUNERS = {"setfit", "text_finetune", "image_finetune", "audio_cnn"}
CLASSICAL = {"xgboost", "extra_trees"}


def _families(trial: optuna.trial.FrozenTrial) -> set[str]:
    spec = trial.user_attrs.get("spec", {})
    learner = spec.get("learner", {}).get("name", "?")
    params = {**spec.get("learner", {}).get("params", {}), **(spec.get("features") or {}).get("params", {})}
    out = set()
    if learner in FINETUNERS:
        out.add("fine-tune/SetFit")
    elif learner in CLASSICAL:
        out.add("classical")
    if spec.get("semi"):
        out.add("pseudo-labels")
    if params.get("ssl.method", "none") != "none":
        out.add("SSL")
    if (params.get("augment.views") or 0) > 0:
        out.add("augmentation")
    return out or {"probe"}


def _allowed(study: optuna.Study) -> set[str]:
    """The families the search space offered, read off the trials' distributions."""
    offered: set[str] = {"probe"}
    for t in study.trials:
        for name, dist in t.distributions.items():
            choices = set(getattr(dist, "choices", ()))
            if name == "learner":
                offered |= {"fine-tune/SetFit"} if choices & FINETUNERS else set()
                offered |= {"classical"} if choices & CLASSICAL else set()
            elif name == "semi":
                offered.add("pseudo-labels")
            elif name.endswith("ssl.method"):
                offered.add("SSL")
            elif name.endswith("augment.views"):
                offered.add("augmentation")
    return offered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="5m")
    parser.add_argument("--datasets", nargs="+", default=["cifar10-few", "sst2-few", "fsdd-few", "table"])
    parser.add_argument("--pool", choices=["both", "with", "without"], default="both")
    parser.add_argument("--code", type=Path, help="checkout to measure instead of the installed automl")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--results", type=Path, help="append each run as a JSON line here")
    parser.add_argument("--keep", type=Path, help="keep each search's folder and log here")
    parser.add_argument(
        "--from-runs", type=Path, help="report on the searches kept by bench_estimates.py --keep DIR instead"
    )
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pools = {"both": [False, True], "with": [True], "without": [False]}[args.pool]
    rows = from_runs(args.from_runs) if args.from_runs else []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in [] if args.from_runs else args.datasets:
            for pool in pools:
                row = run(name, pool, args.budget, args.code, work, args.jobs)
                rows.append(row)
                if args.results:
                    with open(args.results, "a") as f:
                        f.write(
                            json.dumps({**row, "budget": args.budget, "code": str(args.code or "")}) + "\n"
                        )
                print(
                    f"{name} pool={pool}: first trial {row['first'] or float('nan'):.0f}s, "
                    f"{row['finished']} trials in {row['wall']:.0f}s",
                    flush=True,
                )
    if args.from_runs:
        print(f"\nsearches kept in {args.from_runs}")
    else:
        print(f"\nbudget {args.budget}, {args.jobs} thread(s), code: {args.code or 'installed'}")
    head = " ".join(f"{s[:6]:>6}" for s in SHARES)
    print(
        f"{'data':12} {'pool':4} {'first':>6} {'trials':>6} {'/min':>5} {'wall':>5} | share of wall: {head}"
    )
    for r in rows:
        shares = r["shares"]
        cells = " ".join(
            f"{100 * shares[s] / r['wall']:5.0f}%" if shares.get(s) is not None else "   n/a" for s in SHARES
        )
        first = f"{r['first']:5.0f}s" if r["first"] is not None else "   n/a"
        print(
            f"{r['dataset']:12} {'yes' if r['pool'] else 'no':4} {first} {r['finished']:6d} "
            f"{r['per_min']:5.1f} {r['wall']:5.0f} | {cells}"
        )
    seeded = sorted({(r["dataset"], r["pool"]) for r in rows if "seed" in r})
    if seeded:
        print("\nmean over seeds (min-max):")
        for name, pool in seeded:
            mine = [r for r in rows if (r["dataset"], r["pool"]) == (name, pool)]
            firsts = [r["first"] for r in mine if r["first"] is not None]
            cells = []
            for key in ("first", "finished", "complete", "wall"):
                values = firsts if key == "first" else [r[key] for r in mine]
                if not values:
                    cells.append(f"{key} n/a")
                    continue
                cells.append(f"{key} {sum(values) / len(values):.0f} ({min(values):.0f}-{max(values):.0f})")
            book = [sum(r["shares"].get(k) or 0 for k in ("tracking", "report")) / r["wall"] for r in mine]
            cells.append(f"tracking+report {100 * sum(book) / len(book):.1f}%")
            print(f"{name:12} {'yes' if pool else 'no':4} " + ", ".join(cells))
    print("\nstrategy families with a finished trial:")
    for r in rows:
        print(f"{r['dataset']:12} {'pool' if r['pool'] else '-':4} {', '.join(r['families'])}")
    print(
        "\nwhen each family first finished or was pruned, seconds from the command's start (* after a third of the budget):"
    )
    for r in rows:
        third = r["budget"] / 3 if r.get("budget") else float("inf")
        cells = [f"{f} {s:.0f}{'*' if s > third else ''}" for f, s in r["family_first"].items()]
        cells += [f"{f} never" for f in r.get("never", [])]
        late = sum(s > third for s in r["family_first"].values()) + len(r.get("never", []))
        seed = f" seed {r['seed']}" if "seed" in r else ""
        print(f"{r['dataset']:12} {'pool' if r['pool'] else '-':4}{seed}: {', '.join(cells)} ({late} late)")


if __name__ == "__main__":
    main()
