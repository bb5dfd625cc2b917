"""Fault injection: kill a search with SIGKILL or SIGTERM at random moments (loading, trials,
SSL adaptation, refit, report) and resume it each time with the same command. After every
kill: no finished trial is lost. At the end: the study finishes, its model predicts, and its
MLflow parent run is FINISHED. Then a deadline table: budget asked vs wall time.

    python benchmarks/bench_faults.py --kills 20 [--seed 0]
    python benchmarks/bench_faults.py --deadlines 1m 3m --datasets cifar10-few sst2-few fsdd-few table

The kills run on two problems: wine (fast trials: load, trials, refit and report all get hit)
and a small image set with an unlabelled pool (SimCLR adaptation runs in the first trials).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
IMAGE_SPACE = """# purpose: fault injection  # cost: seconds to a minute per trial
learners: {probe: {}}
features: {image_embed: {backbone: efficientnet_lite0, resolution: 96, ssl.method: [none, simclr]}}
semi: {pseudo_label: {semi.rounds: 1}}
start:
  - {learner: probe, features: image_embed, with: {ssl.method: simclr}}
  - {learner: probe, features: image_embed}
"""


def small_images(root: Path) -> tuple[Path, Path]:
    """10 images of each of 4 CIFAR classes and a 300-image pool (symlinks)."""
    train, pool = root / "train", root / "pool"
    for cls in sorted((DATA / "cifar10-few" / "train").iterdir())[:4]:
        (train / cls.name).mkdir(parents=True)
        for src in sorted(cls.iterdir())[:10]:
            os.symlink(src, train / cls.name / src.name)
    pool.mkdir()
    for src in sorted((DATA / "cifar10-few" / "unlabelled").iterdir())[:300]:
        os.symlink(src, pool / src.name)
    return train, pool


def command(problem: dict, out: Path, budget: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "automl",
        "search",
        "--data",
        str(problem["data"]),
        "--budget",
        budget,
        "--output",
        str(out),
        "--study",
        "faults",
        "--trials",
        "40",
        "--jobs",
        "1",
        *problem["extra"],
    ]


def finished(out: Path) -> dict[int, float | None]:
    db = out / "optuna.db"
    if not db.is_file():
        return {}
    try:
        study = optuna.load_study(study_name="faults", storage=f"sqlite:///{db}")
    except Exception:
        return {}
    return {t.number: t.value for t in study.trials if t.state.is_finished()}


def kills(problem: dict, n: int, rng: random.Random, work: Path, budget: str, max_wait: float) -> list[dict]:
    out = work / "runs"
    rows: list[dict] = []
    for i in range(n):
        before = finished(out)
        proc = subprocess.Popen(
            command(problem, out, budget), cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait = rng.uniform(1.0, max_wait)
        sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
        try:
            proc.wait(wait)
            code, sent = proc.returncode, None  # it finished before the signal
        except subprocess.TimeoutExpired:
            proc.send_signal(sig)
            code, sent = proc.wait(300), sig.name
        after = finished(out)
        lost = [k for k, v in before.items() if after.get(k, "missing") != v]
        rows.append(
            {
                "problem": problem["name"],
                "kill": i,
                "after_s": round(wait, 1),
                "signal": sent,
                "exit": code,
                "finished_before": len(before),
                "finished_after": len(after),
                "lost": lost,
            }
        )
        print(
            f"{problem['name']} kill {i}: {sent or 'none'} at {wait:.1f}s, exit {code}, finished trials "
            f"{len(before)} -> {len(after)}, lost {lost}",
            flush=True,
        )
    # The last run goes to the end undisturbed: the model must predict, the MLflow run be finished.
    final = subprocess.run(command(problem, out, budget), cwd=work, capture_output=True, text=True)
    model = out / "faults" / "model"
    pred = subprocess.run(
        [
            sys.executable,
            "-m",
            "automl",
            "predict",
            "--model",
            str(model),
            "--data",
            str(problem["predict"]),
            "--out",
            str(work / "p.csv"),
            "-q",
        ],
        cwd=work,
        capture_output=True,
        text=True,
    )
    summary = json.loads((out / "faults" / "summary.json").read_text())
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    status = client.get_run(summary["mlflow_parent_run_id"]).info.status
    rows.append(
        {
            "problem": problem["name"],
            "final_exit": final.returncode,
            "predict_exit": pred.returncode,
            "predictions": len(pd.read_csv(work / "p.csv")) if pred.returncode == 0 else 0,
            "mlflow_parent": status,
        }
    )
    print(
        f"{problem['name']} final run exit {final.returncode}, predict exit {pred.returncode}, "
        f"MLflow parent run {status}",
        flush=True,
    )
    return rows


def deadline_table(budgets: list[str], datasets: list[str], jobs: int) -> None:
    from bench_speed import digits_table
    from bench_unlabelled import LAYOUTS

    from automl.config import Budget

    print(f"\n{'data':12} {'pool':4} {'budget':>7} {'wall':>7} {'over':>6} {'allowed':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in datasets:
            for pool in (False, True):
                for budget in budgets:
                    work = Path(tmp) / f"{name}-{pool}-{budget}"
                    work.mkdir()
                    if name == "table":
                        train, unlabelled = digits_table(work)
                    else:
                        train, unlabelled = (
                            DATA / name / LAYOUTS[name].train,
                            DATA / name / LAYOUTS[name].unlabelled,
                        )
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
                        str(work / "runs"),
                        "--jobs",
                        str(jobs),
                        "-q",
                    ]
                    if pool:
                        cmd += ["--unlabelled", str(unlabelled)]
                    t0 = time.time()
                    subprocess.run(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    wall = time.time() - t0
                    seconds = Budget.parse(budget).seconds
                    allowed = max(0.02 * seconds, 10.0)
                    print(
                        f"{name:12} {'yes' if pool else 'no':4} {seconds:6.0f}s {wall:6.0f}s {wall - seconds:+5.0f}s "
                        f"{allowed:7.0f}s {'ok' if wall <= seconds + allowed else 'OVER'}",
                        flush=True,
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=0, help="kills in all, split over the two problems")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--deadlines", nargs="*", default=[], help="budgets for the deadline table, e.g. 1m 3m"
    )
    parser.add_argument("--datasets", nargs="+", default=["cifar10-few", "sst2-few", "fsdd-few", "table"])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(args.seed)
    if args.kills:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / "wine"
            work.mkdir()
            wine = {
                "name": "wine",
                "data": ROOT / "examples" / "wine.csv",
                "extra": ["--space", str(ROOT / "search_spaces" / "tabular.yaml")],
                "predict": ROOT / "examples" / "wine.csv",
            }
            rows += kills(wine, args.kills // 2, rng, work, "40s", 50.0)
            images = Path(tmp) / "images"
            images.mkdir()
            train, pool = small_images(images)
            (images / "space.yaml").write_text(IMAGE_SPACE)
            img = {
                "name": "images+pool",
                "data": train,
                "extra": ["--unlabelled", str(pool), "--space", str(images / "space.yaml")],
                "predict": pool,
            }
            rows += kills(img, args.kills - args.kills // 2, rng, images, "90s", 100.0)
            shutil.rmtree(tmp, ignore_errors=True)
        lost = sum(len(r.get("lost", [])) for r in rows)
        ends = [r for r in rows if "final_exit" in r]
        print(
            f"\n{args.kills} kills: {lost} finished trial(s) lost; final runs: "
            + "; ".join(
                f"{r['problem']}: exit {r['final_exit']}, predict exit {r['predict_exit']} "
                f"({r['predictions']} rows), MLflow {r['mlflow_parent']}"
                for r in ends
            )
        )
    if args.deadlines:
        deadline_table(args.deadlines, args.datasets, args.jobs)


if __name__ == "__main__":
    main()
