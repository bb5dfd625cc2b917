"""The real CLI on real small tables: search, MLflow contents, predict, resume, bad input."""

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from automl.cli import main


def run_search(data: Path, out: Path, *extra: str) -> int:
    return main(
        ["search", "--data", str(data), "--budget", "5m", "--output", str(out), "--jobs", "1", "-q", *extra]
    )


def mlflow_runs(out: Path, study: str):
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    exp = client.get_experiment_by_name(f"automl/{study}")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("automl.kind") == "search"]
    trials = [r for r in runs if r.data.tags.get("automl.kind") == "trial"]
    return client, parents, trials


def test_search_tracks_exports_and_predicts(mixed_csv: Path, tmp_path: Path, capsys):
    out = tmp_path / "runs"
    assert run_search(mixed_csv, out, "--label", "diagnosis", "--trials", "5") == 0
    run_dir = out / "cancer"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert sum(summary["trials"].values()) == 5
    assert summary["best_value"] > summary["baseline_value"] + 0.2  # far above the class prior

    client, parents, trials = mlflow_runs(out, "cancer")
    assert len(parents) == 1 and len(trials) == 5
    assert {t.data.tags["mlflow.parentRunId"] for t in trials} == {parents[0].info.run_id}
    best = [t for t in trials if t.data.tags.get("automl.best") == "true"]
    assert len(best) == 1 and int(best[0].data.tags["automl.trial"]) == summary["best_trial"]
    complete = [t for t in trials if t.info.status == "FINISHED"]
    assert all("cv_mean" in t.data.metrics and "learner" in t.data.params for t in complete)
    assert "model/MLmodel" in [a.path for a in client.list_artifacts(parents[0].info.run_id, "model")]

    new = tmp_path / "new.csv"
    pd.read_csv(mixed_csv).drop(columns=["diagnosis"]).head(20).to_csv(new, index=False)
    preds = tmp_path / "preds.csv"
    assert main(["predict", "--model", str(run_dir / "model"), "--data", str(new), "--out", str(preds)]) == 0
    frame = pd.read_csv(preds)
    assert list(frame.columns) == ["prediction", "proba_benign", "proba_malignant"]
    assert len(frame) == 20 and set(frame["prediction"]) <= {"benign", "malignant"}

    assert main(["runs", "--output", str(out)]) == 0
    assert "cancer" in capsys.readouterr().out


def test_resume_keeps_finished_trials_and_parent_run(wine_csv: Path, tmp_path: Path):
    out = tmp_path / "runs"
    assert run_search(wine_csv, out, "--trials", "3", "--space", _smoke()) == 0
    _, parents1, trials1 = mlflow_runs(out, "wine")
    assert run_search(wine_csv, out, "--trials", "6", "--space", _smoke()) == 0
    _, parents2, trials2 = mlflow_runs(out, "wine")
    assert [p.info.run_id for p in parents2] == [parents1[0].info.run_id]
    numbers = sorted(int(t.data.tags["automl.trial"]) for t in trials2)
    assert numbers == list(range(6))
    db = sqlite3.connect(out / "optuna.db")
    assert db.execute("select count(*) from trials").fetchone()[0] == 6


def test_resume_on_changed_data_is_refused(wine_csv: Path, tmp_path: Path, capsys):
    out = tmp_path / "runs"
    assert run_search(wine_csv, out, "--trials", "1", "--space", _smoke()) == 0
    df = pd.read_csv(wine_csv)
    df.iloc[:5, 0] += 1
    df.to_csv(wine_csv, index=False)
    assert run_search(wine_csv, out, "--trials", "2", "--space", _smoke()) == 2
    err = capsys.readouterr().err
    assert "different data" in err and "--study" in err


def test_ctrl_c_keeps_finished_trials_and_exports(wine_csv: Path, tmp_path: Path):
    out = tmp_path / "runs"
    cmd = [
        sys.executable,
        "-m",
        "automl",
        "search",
        "--data",
        str(wine_csv),
        "--budget",
        "10m",
        "--trials",
        "500",
        "--output",
        str(out),
        "--jobs",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = out / "optuna.db"
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.5)
        if db.exists():
            try:
                done = (
                    sqlite3.connect(db)
                    .execute("select count(*) from trials where state='COMPLETE'")
                    .fetchone()[0]
                )
            except sqlite3.OperationalError:
                continue
            if done >= 3:
                break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "Interrupted" in err
    complete = sqlite3.connect(db).execute("select count(*) from trials where state='COMPLETE'").fetchone()[0]
    assert complete >= 3
    assert (out / "wine" / "model" / "bundle.json").exists()
    summary = json.loads((out / "wine" / "summary.json").read_text())
    assert summary["stopped_by"] == "interrupted"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--label", "species"], "Label column 'species' is not in"),
        (["--metric", "acuracy"], "Did you mean 'accuracy'"),
    ],
)
def test_bad_input_exits_2_with_a_fix(wine_csv: Path, tmp_path: Path, capsys, args, message):
    assert run_search(wine_csv, tmp_path / "o", "--trials", "1", *args) == 2
    assert message in capsys.readouterr().err


def test_bad_budget_lists_forms(wine_csv: Path, capsys):
    with pytest.raises(SystemExit):
        main(["search", "--data", str(wine_csv), "--budget", "ten"])
    assert "90s, 15m, 2h, 1h30m" in capsys.readouterr().err


def test_predict_with_wrong_columns_names_them(wine_csv: Path, tmp_path: Path, capsys):
    out = tmp_path / "runs"
    assert run_search(wine_csv, out, "--trials", "1", "--space", _smoke()) == 0
    bad = tmp_path / "bad.csv"
    pd.read_csv(wine_csv).drop(columns=["target", "proline"]).to_csv(bad, index=False)
    assert (
        main(
            [
                "predict",
                "--model",
                str(out / "wine" / "model"),
                "--data",
                str(bad),
                "--out",
                str(tmp_path / "p.csv"),
            ]
        )
        == 2
    )
    assert "['proline']" in capsys.readouterr().err


def _smoke() -> str:
    return str(Path(__file__).resolve().parents[2] / "search_spaces" / "smoke.yaml")


def test_journal_storage_search_and_worker_share_one_study(tmp_path, wine_csv):
    """On one machine without a database server: Optuna's journal file, one extra worker."""
    import os

    import optuna

    journal = tmp_path / "optuna.journal"
    url = f"journal:///{journal}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "automl"]
    lead = subprocess.Popen(
        cmd
        + [
            "search",
            "--data",
            str(wine_csv),
            "--budget",
            "3m",
            "--trials",
            "8",
            "--storage",
            url,
            "--study",
            "wine",
            "--output",
            str(tmp_path / "runs"),
            "--space",
            _smoke(),
            "--jobs",
            "1",
            "-q",
        ],
        env=env,
    )
    storage = None
    while lead.poll() is None:
        if journal.exists():
            storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
            try:
                if "automl.settings" in optuna.load_study(study_name="wine", storage=storage).user_attrs:
                    break
            except KeyError:
                pass
        time.sleep(0.3)
    worker = subprocess.run(
        cmd + ["worker", "--storage", url, "--study", "wine", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert lead.wait(timeout=180) == 0
    study = optuna.load_study(study_name="wine", storage=storage)
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == 8
    assert (tmp_path / "runs" / "wine" / "model").is_dir()
