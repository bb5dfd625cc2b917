"""Several processes on one study, against the real PostgreSQL on 127.0.0.1:5432 and a real
MLflow tracking server: exact trial counts, a worker killed with SIGKILL mid-trial, tracking.

PostgreSQL must be running (database `test`, trust auth); the tests skip with the reason when
it is not. Each test uses a fresh study name and deletes it afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

PG = os.environ.get("AUTOML_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
# Trials of a second or more, so that every process gets some and a kill lands mid-trial.
SPACE = """# purpose: test  # cost: seconds per trial
learners:
  extra_trees: {n_estimators: {low: 300, high: 400}}
features:
  tabular: {scaler: standard}
start: []
"""


def _postgres_up() -> str | None:
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(PG)
        with engine.connect() as c:
            c.execute(sqlalchemy.text("select 1"))
        engine.dispose()
        return None
    except Exception as e:
        return f"PostgreSQL not reachable at {PG}: {e}"


_STORAGE = None


def pg_storage() -> optuna.storages.RDBStorage:
    """One storage (one small connection pool) for the whole test process: a new storage per
    poll would open a pool each time and exhaust PostgreSQL's max_connections."""
    global _STORAGE
    if _STORAGE is None:
        import sqlalchemy.pool

        _STORAGE = optuna.storages.RDBStorage(PG, engine_kwargs={"poolclass": sqlalchemy.pool.NullPool})
    return _STORAGE


pytestmark = [pytest.mark.skipif(_postgres_up() is not None, reason=str(_postgres_up())), pytest.mark.workers]


@pytest.fixture
def study_name():
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    try:
        optuna.delete_study(study_name=name, storage=pg_storage())
    except KeyError:
        pass


@pytest.fixture
def problem(tmp_path: Path) -> tuple[Path, Path]:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=1500, n_features=30, n_informative=10, random_state=0)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(30)])
    df["label"] = np.where(y == 1, "yes", "no")
    data = tmp_path / "table.csv"
    df.to_csv(data, index=False)
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    return data, space


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }


def _cli(*args: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "automl", *args], env=_env(), stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def _wait_for_study(name: str, timeout: float = 60) -> optuna.Study:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            study = optuna.load_study(study_name=name, storage=pg_storage())
            if "automl.settings" in study.user_attrs:
                return study
        except KeyError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"study {name} was not created within {timeout}s")


def _counted(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Finished trials that count: a failed trial that was retried is replaced by its retry."""
    trials = study.get_trials(
        states=(
            optuna.trial.TrialState.COMPLETE,
            optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL,
        )
    )
    retried = {t.system_attrs.get("failed_trial") for t in study.get_trials()}
    return [t for t in trials if not (t.state == optuna.trial.TrialState.FAIL and t.number in retried)]


def _search(data: Path, space: Path, out: Path, name: str, *extra: str) -> list[str]:
    return [
        "search",
        "--data",
        str(data),
        "--space",
        str(space),
        "--output",
        str(out),
        "--storage",
        PG,
        "--study",
        name,
        "--cv",
        "3",
        "--jobs",
        "1",
        *extra,
    ]


def test_three_processes_finish_the_trial_count_exactly(tmp_path, problem, study_name):
    data, space = problem
    out = tmp_path / "runs"
    lead = _cli(
        *_search(data, space, out, study_name, "--budget", "5m", "--trials", "10"), log=tmp_path / "lead.log"
    )
    _wait_for_study(study_name)
    workers = [
        _cli("worker", "--storage", PG, "--study", study_name, log=tmp_path / f"w{i}.log") for i in range(2)
    ]
    assert lead.wait(timeout=300) == 0, (tmp_path / "lead.log").read_text()[-3000:]
    for i, w in enumerate(workers):
        assert w.wait(timeout=120) == 0, (tmp_path / f"w{i}.log").read_text()[-3000:]
    study = optuna.load_study(study_name=study_name, storage=pg_storage())
    counted = _counted(study)
    assert len(counted) == 10, [(t.number, t.state.name) for t in study.trials]
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    by = {t.user_attrs.get("automl.worker") for t in counted}
    assert len(by) == 3, f"every process should have run trials: {by}"
    summary = json.loads((out / study_name / "summary.json").read_text())
    assert summary["best_trial"] in {t.number for t in counted}
    # Every finished trial is in MLflow (the workers log to the store recorded in the study).
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{(out / 'mlflow.db').resolve()}")
    exp = client.get_experiment_by_name(f"automl/{study_name}")
    runs = client.search_runs([exp.experiment_id], "tags.`automl.kind` = 'trial'", max_results=1000)
    assert sorted(int(r.data.tags["automl.trial"]) for r in runs) == sorted(
        t.number
        for t in study.get_trials(
            states=(
                optuna.trial.TrialState.COMPLETE,
                optuna.trial.TrialState.PRUNED,
                optuna.trial.TrialState.FAIL,
            )
        )
    )


def test_killed_worker_trial_is_retried_and_nothing_is_lost(tmp_path, problem, study_name):
    data, space = problem
    out = tmp_path / "runs"
    lead = _cli(
        *_search(data, space, out, study_name, "--budget", "5m", "--trials", "8", "--heartbeat", "1"),
        log=tmp_path / "lead.log",
    )
    study = _wait_for_study(study_name)
    victim = _cli("worker", "--storage", PG, "--study", study_name, log=tmp_path / "victim.log")
    target = None
    end = time.monotonic() + 120
    while target is None and time.monotonic() < end:
        for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)):
            if t.user_attrs.get("automl.worker", "").endswith(f":{victim.pid}"):
                target = t.number
        time.sleep(0.2)
    assert target is not None, "the worker never started a trial"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert lead.wait(timeout=300) == 0, (tmp_path / "lead.log").read_text()[-3000:]

    study = optuna.load_study(study_name=study_name, storage=pg_storage())
    killed = study.trials[target]
    assert killed.state == optuna.trial.TrialState.FAIL
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == target]
    assert len(retries) == 1 and retries[0].state.is_finished()
    assert retries[0].params == killed.params  # the same configuration ran again
    assert len(_counted(study)) == 8
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{(out / 'mlflow.db').resolve()}")
    exp = client.get_experiment_by_name(f"automl/{study_name}")
    runs = {
        int(r.data.tags["automl.trial"]): r
        for r in client.search_runs([exp.experiment_id], "tags.`automl.kind` = 'trial'", max_results=1000)
    }
    assert runs[target].info.status == "FAILED"  # the killed trial's run is closed as failed
    finished = {t.number for t in study.trials if t.state.is_finished()}
    assert set(runs) == finished


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlflow_server_receives_every_trial(tmp_path, problem, study_name):
    data, space = problem
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "server-artifacts"),
        ],
        env={**_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=(tmp_path / "server.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        _wait_http(uri, server, tmp_path / "server.log")
        out = tmp_path / "runs"
        lead = _cli(
            *_search(data, space, out, study_name, "--budget", "4m", "--trials", "6", "--tracking-uri", uri),
            log=tmp_path / "lead.log",
        )
        _wait_for_study(study_name)
        worker = _cli("worker", "--storage", PG, "--study", study_name, log=tmp_path / "w.log")
        assert lead.wait(timeout=300) == 0, (tmp_path / "lead.log").read_text()[-3000:]
        assert worker.wait(timeout=120) == 0, (tmp_path / "w.log").read_text()[-3000:]
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        exp = client.get_experiment_by_name(f"automl/{study_name}")
        runs = client.search_runs([exp.experiment_id], "tags.`automl.kind` = 'trial'", max_results=1000)
        study = optuna.load_study(study_name=study_name, storage=pg_storage())
        assert len(runs) == len(study.trials) == 6
        workers = {t.user_attrs["automl.worker"] for t in study.trials}
        assert len(workers) == 2
        parent = client.search_runs([exp.experiment_id], "tags.`automl.kind` = 'search'")[0]
        assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {parent.info.run_id}
        assert all("cv_mean" in r.data.metrics for r in runs if r.info.status == "FINISHED")
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_http(uri: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    import urllib.request

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"mlflow server exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"{uri}/health", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"mlflow server did not answer within {timeout}s")


def test_worker_refuses_sqlite_and_other_data(tmp_path, problem, study_name, capsys):
    from automl.cli import main

    data, space = problem
    assert main(["worker", "--storage", f"sqlite:///{tmp_path / 'x.db'}", "--study", "s"]) == 2
    assert "journal:///" in capsys.readouterr().err
    out = tmp_path / "runs"
    assert main(_search(data, space, out, study_name, "--budget", "1m", "--trials", "1", "-q")) == 0
    other = tmp_path / "other.csv"
    pd.read_csv(data).iloc[:-5].to_csv(other, index=False)
    assert main(["worker", "--storage", PG, "--study", study_name, "--data", str(other)]) == 2
    assert "different data" in capsys.readouterr().err
    assert main(["worker", "--storage", PG, "--study", "no-such-study"]) == 2
    assert "No study" in capsys.readouterr().err


def test_credentials_never_reach_logs_mlflow_or_reports(tmp_path, problem, study_name, capsys):
    """Trust auth accepts any password, so a URL with a secret still connects."""
    from mlflow.tracking import MlflowClient

    from automl.cli import main

    data, space = problem
    secret_url = PG.replace("postgres@", "postgres:s3cr3t-pw@")
    out = tmp_path / "runs"
    assert (
        main(
            [
                "search",
                "--data",
                str(data),
                "--space",
                str(space),
                "--output",
                str(out),
                "--storage",
                secret_url,
                "--study",
                study_name,
                "--cv",
                "3",
                "--budget",
                "1m",
                "--trials",
                "2",
                "-v",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "s3cr3t" not in captured.out + captured.err
    for f in (out / study_name).rglob("*"):
        if f.is_file() and f.suffix in (".json", ".html", ".yaml", ".txt"):
            assert "s3cr3t" not in f.read_text(errors="ignore"), f
    client = MlflowClient(f"sqlite:///{(out / 'mlflow.db').resolve()}")
    exp = client.get_experiment_by_name(f"automl/{study_name}")
    for run in client.search_runs([exp.experiment_id]):
        assert "s3cr3t" not in json.dumps(run.data.params) + json.dumps(run.data.tags)
    study = optuna.load_study(study_name=study_name, storage=pg_storage())
    assert "s3cr3t" not in json.dumps(study.user_attrs, default=str)
