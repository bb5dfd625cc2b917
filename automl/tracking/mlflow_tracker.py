"""MLflow tracking: one parent run per search, one nested run per trial.

Uses ``MlflowClient`` with an explicit tracking URI (no global ``mlflow.set_tracking_uri``):
several searches can track to different stores in one process.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from automl.logger import log
from automl.tracking.base import TrialRecord

_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
MAX_PARAM_CHARS = 500  # longer values are cut: MLflow rejects very long params


class MlflowTracker:
    def __init__(self, tracking_uri: str, experiment: str, artifact_root: Path | None = None) -> None:
        import os

        from mlflow.tracking import MlflowClient

        if tracking_uri.startswith("http"):
            # MLflow's default retries an unreachable server for minutes per call; a search
            # would stall on every trial. Fail fast instead: unsent trials are retried later.
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        self.uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri)
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None:
            # A file store's default artifact root is ./mlartifacts relative to the *current*
            # directory; pin it beside the database so the UI finds artefacts from anywhere.
            location = (artifact_root / experiment).resolve().as_uri() if artifact_root else None
            self.experiment_id = self.client.create_experiment(experiment, artifact_location=location)
        else:
            self.experiment_id = exp.experiment_id
        self.parent_id: str | None = None

    def start_search(self, name: str, params: dict[str, Any], description: str, resume_id: str | None) -> str:
        if resume_id is not None:
            try:
                run = self.client.get_run(resume_id)
                self.parent_id = run.info.run_id
                self.client.update_run(self.parent_id, status="RUNNING")
                self.client.set_tag(self.parent, "automl.resumed", time.strftime("%Y-%m-%d %H:%M:%S"))
                return self.parent_id
            except Exception:
                log.warning("MLflow parent run %s not found; starting a new one", resume_id)
        run = self.client.create_run(
            self.experiment_id,
            run_name=name,
            tags={"mlflow.note.content": description, "automl.kind": "search"},
        )
        self.parent_id = run.info.run_id
        self._log_params(self.parent_id, params)
        return self.parent_id

    def attach(self, parent_id: str) -> None:
        """Log trials under an existing parent run (a worker joining a search)."""
        self.parent_id = self.client.get_run(parent_id).info.run_id

    def log_trial(self, trial: TrialRecord, metric: str) -> None:
        from mlflow.entities import Metric

        tags = {
            "mlflow.parentRunId": self.parent_id,
            "automl.kind": "trial",
            "automl.trial": str(trial.number),
            "automl.state": trial.state,
        }
        if trial.error:
            tags["automl.error"] = trial.error[:5000]
        run = self.client.create_run(
            self.experiment_id, start_time=trial.start_ms, tags=tags, run_name=f"trial-{trial.number:04d}"
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
        for sub, path in files.items():
            path = Path(path)
            if path.is_dir():
                self.client.log_artifacts(self.parent, str(path), sub)
            elif path.exists():
                self.client.log_artifact(self.parent, str(path), sub or None)

    def finish_search(self, summary: dict[str, Any], best_trial: int | None, status: str) -> None:
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
            [self.experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{self.parent_id}' and "
            f"tags.`automl.trial` = '{number}'",
        )

    def logged_trials(self) -> set[int]:
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{self.parent_id}'",
            max_results=50000,
        )
        return {int(r.data.tags["automl.trial"]) for r in runs if "automl.trial" in r.data.tags}

    def _log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:MAX_PARAM_CHARS]) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(run_id, params=items[i : i + 100])
