"""A search you can leave running: signals stop it cleanly, a killed run's trial is failed
on resume, a changed problem is refused, and a step that overruns the budget is stopped."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from automl.cli import main

SLOW_SPACE = """# purpose: test  # cost: seconds per fold
learners:
  logreg: {}
  sleepy: {}
features:
  tabular: {}
start:
  - {learner: logreg, features: tabular}
  - {learner: sleepy, features: tabular}
"""


def start_search(tmp_path: Path, data: Path, budget: str, *extra: str) -> subprocess.Popen:
    out = tmp_path / "runs"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "automl",
            "search",
            "--data",
            str(data),
            "--budget",
            budget,
            "--output",
            str(out),
            "--space",
            "search_spaces/smoke.yaml",
            "--jobs",
            "1",
            *extra,
        ],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_trials(
    storage: Path, n: int, timeout: float = 300, proc: subprocess.Popen | None = None
) -> None:
    """Until ``n`` trials are complete; fails at once, with its output, if ``proc`` exits."""
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"the search exited ({proc.returncode}) before {n} trials finished:\n{out}")
        if storage.is_file():
            try:
                study = optuna.load_study(study_name="wine", storage=f"sqlite:///{storage}")
                if sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) >= n:
                    return
            except Exception:  # the database is being created
                pass
        time.sleep(0.5)
    out = ""
    if proc is not None:  # stopped, so that what it printed can be read without blocking
        proc.kill()
        out = proc.stdout.read() if proc.stdout else ""
    raise AssertionError(f"fewer than {n} trials finished in {timeout}s; the search printed:\n{out}")


def test_sigterm_exports_the_best_so_far(tmp_path, wine_csv):
    proc = start_search(tmp_path, wine_csv, "10m")
    wait_for_trials(tmp_path / "runs" / "optuna.db", 2, proc=proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    summary = json.loads((tmp_path / "runs" / "wine" / "summary.json").read_text())
    assert summary["stopped_by"] == "interrupted"
    assert (tmp_path / "runs" / "wine" / "model" / "bundle.json").is_file()
    assert "SIGTERM received" in out
    study = optuna.load_study(study_name="wine", storage=f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}")
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]


def test_a_second_signal_exits_at_once(tmp_path, wine_csv):
    proc = start_search(tmp_path, wine_csv, "10m")
    wait_for_trials(tmp_path / "runs" / "optuna.db", 1, proc=proc)
    proc.send_signal(signal.SIGTERM)
    for line in proc.stdout:  # the first one is handled (signals of one kind do not queue)
        if "SIGTERM received" in line:
            break
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM


def test_a_killed_search_resumes_with_its_trial_failed(tmp_path, wine_csv):
    proc = start_search(tmp_path, wine_csv, "10m")
    storage = tmp_path / "runs" / "optuna.db"
    wait_for_trials(storage, 2, proc=proc)
    deadline = time.time() + 60
    while time.time() < deadline:  # kill -9 while a trial runs
        study = optuna.load_study(study_name="wine", storage=f"sqlite:///{storage}")
        if any(t.state == optuna.trial.TrialState.RUNNING for t in study.trials):
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    running = [
        t.number
        for t in optuna.load_study(study_name="wine", storage=f"sqlite:///{storage}").trials
        if t.state == optuna.trial.TrialState.RUNNING
    ]
    rerun = start_search(tmp_path, wine_csv, "20s")
    out, _ = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, out
    study = optuna.load_study(study_name="wine", storage=f"sqlite:///{storage}")
    for number in running:
        assert study.trials[number].state == optuna.trial.TrialState.FAIL
        assert "ended while it ran" in study.trials[number].user_attrs["error"]


def test_a_resume_with_another_problem_is_refused(tmp_path, wine_csv, capsys):
    out = tmp_path / "runs"
    base = [
        "search",
        "--data",
        str(wine_csv),
        "--budget",
        "2m",
        "--trials",
        "1",
        "--output",
        str(out),
        "--space",
        "search_spaces/smoke.yaml",
        "-q",
    ]
    cwd = os.getcwd()
    os.chdir(Path(__file__).resolve().parents[2])
    try:
        assert main(base) == 0
        assert main([*base, "--cv", "3"]) == 2
        assert "--cv 5, not 3" in capsys.readouterr().err
        pool = tmp_path / "pool.csv"
        pool.write_text(wine_csv.read_text().replace(",target", ",other"))
        assert main([*base, "--unlabelled", str(pool)]) == 2
        assert "no unlabelled pool" in capsys.readouterr().err
    finally:
        os.chdir(cwd)


class Sleepy(ClassifierMixin, BaseEstimator):
    """A learner that ignores every time limit: only the hard deadline can stop it."""

    def fit(self, X, y):
        time.sleep(3600)
        return self


@pytest.fixture
def sleepy():
    from automl.components.base import ALL_MODALITIES, LEARNERS, ComponentInfo, register

    register(
        ComponentInfo(
            "sleepy",
            "learner",
            "never finishes",
            ALL_MODALITIES,
            lambda p: {},
            lambda params, ctx: Sleepy(),
            lambda p: {},
        )
    )
    yield
    LEARNERS.unregister("sleepy")


def test_a_step_that_overruns_is_stopped_at_the_deadline(tmp_path, wine_csv, sleepy):
    from automl.config import Budget, SearchConfig
    from automl.search.orchestrator import search
    from automl.tracking.base import NullTracker

    space = tmp_path / "space.yaml"
    space.write_text(SLOW_SPACE)
    t0 = time.monotonic()
    result = search(
        SearchConfig(data=wine_csv, budget=Budget.parse("20s"), space=space, output=tmp_path / "o", n_jobs=1),
        tracker=NullTracker(),
    )
    took = time.monotonic() - t0
    assert took < 20 + 10  # within max(2%, 10 s) of the budget
    assert result.best_spec.learner.name == "logreg" and result.n_pruned >= 1
