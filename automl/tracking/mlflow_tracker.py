"""MLflow tracking: one parent run per search, one nested run per trial.

Uses ``MlflowClient`` with an explicit tracking URI (no global ``mlflow.set_tracking_uri``):
several searches can track to different stores in one process.

A tracking server that is down never stops a search. The tracker connects lazily: the
experiment and the parent run are created on the first call that reaches the store, trial
logging raises (the search's ``TrialLog`` keeps the trial and retries it), and the calls the
search does not retry (start, artefacts, finish) warn once per outage instead of raising.
"""

from __future__ import annotations

import fcntl
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from automl.config import check_tracking_uri, redact_url
from automl.exceptions import ConfigError, first_line
from automl.logger import log
from automl.tracking.base import TrialRecord

_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
MAX_PARAM_CHARS = 500  # longer values are cut: MLflow rejects very long params


@contextmanager
def store_lock(tracking_uri: str) -> Iterator[None]:
    """Hold a file lock beside a SQLite store while it is opened: two searches starting on a
    new output folder at once would both run MLflow's schema migration, and one would die on
    "table alembic_version already exists"."""
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    db = Path(tracking_uri[len("sqlite:///") :])
    if not db.parent.is_dir():  # MLflow reports the missing folder itself
        yield
        return
    with open(f"{db}.automl-lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _reason(error: Exception) -> str:
    """The root cause of a failed call (``[Errno 111] Connection refused``), not the chain of
    wrappers MLflow and urllib3 put around it."""
    text = str(error)
    errno = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    reason = errno.group(0) if errno else first_line(error, 200)
    return redact_url(reason) or reason


# MLflow 3's UI opens an experiment in its GenAI view unless this tag says it holds model
# training runs; with it, the UI lands on the runs table, where trials are compared.
EXPERIMENT_KIND = "mlflow.experimentKind"
RUNS_TABLE = "custom_model_development"


class MlflowTracker:
    def __init__(self, tracking_uri: str, experiment: str, artifact_root: Path | None = None) -> None:
        import os

        from mlflow.tracking import MlflowClient

        check_tracking_uri(tracking_uri)
        if tracking_uri.startswith("http"):
            # MLflow's default retries an unreachable server for minutes per call; a search
            # would stall on every trial. Fail fast instead: unsent trials are retried later.
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        self.uri = tracking_uri
        self.experiment = experiment
        self.artifact_root = artifact_root
        self.experiment_id: str | None = None
        self.parent_id: str | None = None
        # The parent run still to open: (name, params, description, resume id).
        self._pending: tuple[str, dict[str, Any], str, str | None] | None = None
        self._down = False  # an outage was reported; the next success ends it
        try:
            with store_lock(tracking_uri):
                self.client = MlflowClient(tracking_uri=tracking_uri)
        except Exception as e:
            raise ConfigError(
                f"--tracking-uri {redact_url(tracking_uri)} cannot be used: {first_line(e, 200)}"
            ) from None
        try:
            self._ready()
        except Exception as e:
            self._failed(e, "connect")

    def _ready(self) -> str:
        """The experiment id, after creating the experiment and the pending parent run if
        they do not exist yet. Raises when the store cannot be reached."""
        if self.experiment_id is None:
            with store_lock(self.uri):
                self.experiment_id = self._experiment_id()
        if self._pending is not None:
            self._open_parent(self.experiment_id, *self._pending)
            self._pending = None
        if self._down:
            log.warning("MLflow tracking at %s answers again; tracking resumes.", redact_url(self.uri))
            self._down = False
        return self.experiment_id

    def _experiment_id(self) -> str:
        exp = self.client.get_experiment_by_name(self.experiment)
        if exp is not None:
            if exp.tags.get(EXPERIMENT_KIND) != RUNS_TABLE:  # created before the tag existed
                self.client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND, RUNS_TABLE)
            return exp.experiment_id
        # A file store's default artifact root is ./mlartifacts relative to the *current*
        # directory; pin it beside the database so the UI finds artefacts from anywhere.
        root = self.artifact_root
        location = (root / self.experiment).resolve().as_uri() if root else None
        return self.client.create_experiment(
            self.experiment, artifact_location=location, tags={EXPERIMENT_KIND: RUNS_TABLE}
        )

    def _failed(self, error: Exception, doing: str) -> None:
        """Warn once per outage; later failures until a success are debug lines."""
        reason = _reason(error)
        if self._down:
            log.debug("MLflow tracking still failing (%s): %s", doing, reason)
            return
        self._down = True
        log.warning(
            "MLflow tracking at %s failed to %s (%s). The search goes on: trial runs are kept and "
            "sent when it answers (and back-filled at the end); the model, summary and report are "
            "in the output folder either way.",
            redact_url(self.uri),
            doing,
            reason,
        )

    def start_search(
        self, name: str, params: dict[str, Any], description: str, resume_id: str | None
    ) -> str | None:
        """The parent run's id, or None when the store is unreachable: the run is then opened
        by the first later call that reaches it."""
        self._pending = (name, params, description, resume_id)
        try:
            self._ready()
        except Exception as e:
            self._failed(e, "start the search's run")
        return self.parent_id

    def _open_parent(
        self, experiment_id: str, name: str, params: dict[str, Any], description: str, resume_id: str | None
    ) -> None:
        from mlflow.exceptions import MlflowException

        if resume_id is not None:
            try:
                run = self.client.get_run(resume_id)
                self.parent_id = run.info.run_id
                self.client.update_run(self.parent_id, status="RUNNING")
                self.client.set_tag(self.parent_id, "automl.resumed", time.strftime("%Y-%m-%d %H:%M:%S"))
                return
            except MlflowException as e:
                if e.error_code in ("INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE"):  # unreachable
                    raise
                log.warning("MLflow parent run %s not found; starting a new one", resume_id)
        run = self.client.create_run(
            experiment_id,
            run_name=name,
            tags={"mlflow.note.content": description, "automl.kind": "search"},
        )
        self.parent_id = run.info.run_id
        self._pending = None  # opened: a failure below must not open a second one
        self._log_params(self.parent_id, params)

    def attach(self, parent_id: str) -> None:
        """Log trials under an existing parent run (a worker joining a search)."""
        self.parent_id = parent_id
        try:
            self.client.get_run(parent_id)
        except Exception as e:
            self._failed(e, f"find the search's run {parent_id}")

    def log_trial(self, trial: TrialRecord, metric: str) -> None:
        """Raises when the store is unreachable: the caller keeps the trial and retries."""
        from mlflow.entities import Metric

        experiment_id = self._ready()
        tags = {
            "mlflow.parentRunId": self.parent,
            "automl.kind": "trial",
            "automl.trial": str(trial.number),
            "automl.state": trial.state,
        }
        if trial.error:
            tags["automl.error"] = trial.error[:5000]
        run = self.client.create_run(
            experiment_id, start_time=trial.start_ms, tags=tags, run_name=f"trial-{trial.number:04d}"
        )
        rid = run.info.run_id
        self._log_params(rid, trial.params)
        ts = trial.end_ms
        metrics = [Metric(f"fold_{metric}", s, ts, i) for i, s in enumerate(trial.fold_scores)]
        if trial.fold_scores:
            metrics.append(Metric("cv_mean", sum(trial.fold_scores) / len(trial.fold_scores), ts, 0))
            metrics.append(Metric("cv_std", trial.cv_std or 0.0, ts, 0))
            metrics.append(Metric("folds_done", len(trial.fold_scores), ts, 0))
        if trial.value is not None:
            metrics.append(Metric(metric, trial.value, ts, 0))
        metrics.append(Metric("duration_s", (trial.end_ms - trial.start_ms) / 1000, ts, 0))
        metrics += [Metric(k, v, ts, 0) for k, v in trial.extra_metrics.items()]
        self.client.log_batch(rid, metrics=metrics)
        self.client.set_terminated(rid, status=_STATUS.get(trial.state, "FAILED"), end_time=trial.end_ms)

    @property
    def parent(self) -> str:
        if self.parent_id is None:
            raise RuntimeError("start_search() or attach() must come first")
        return self.parent_id

    def log_artifacts(self, files: dict[str, Path]) -> None:
        """Warns (once per outage) instead of raising: the files stay in the output folder."""
        try:
            self._ready()
            for sub, path in files.items():
                path = Path(path)
                if path.is_dir():
                    self.client.log_artifacts(self.parent, str(path), sub)
                elif path.exists():
                    self.client.log_artifact(self.parent, str(path), sub or None)
        except Exception as e:
            self._failed(e, f"log {', '.join(Path(p).name for p in files.values())}")

    def finish_search(self, summary: dict[str, Any], best_trial: int | None, status: str) -> None:
        """Warns instead of raising: the search's results are in its output folder."""
        try:
            self._ready()
            self._finish(summary, best_trial, status)
        except Exception as e:
            self._failed(e, "close the search's run")

    def _finish(self, summary: dict[str, Any], best_trial: int | None, status: str) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        numeric = {
            k: float(v) for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        self.client.log_batch(self.parent, metrics=[Metric(k, v, now, 0) for k, v in numeric.items()])
        for k, v in summary.items():
            if k not in numeric:
                self.client.set_tag(self.parent, f"automl.{k}", str(v)[:5000])
        if best_trial is not None:
            for run in self._trial_runs(best_trial):
                self.client.set_tag(run.info.run_id, "automl.best", "true")
            self.client.set_tag(self.parent, "automl.best_trial", str(best_trial))
        self.client.set_terminated(self.parent, status=status, end_time=now)

    def _trial_runs(self, number: int):
        return self.client.search_runs(
            [self._ready()],
            filter_string=f"tags.`mlflow.parentRunId` = '{self.parent_id}' and "
            f"tags.`automl.trial` = '{number}'",
        )

    def logged_trials(self) -> set[int]:
        runs = self.client.search_runs(
            [self._ready()],
            filter_string=f"tags.`mlflow.parentRunId` = '{self.parent_id}'",
            max_results=50000,
        )
        return {int(r.data.tags["automl.trial"]) for r in runs if "automl.trial" in r.data.tags}

    def _log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:MAX_PARAM_CHARS]) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(run_id, params=items[i : i + 100])
