"""The Tracker protocol: the orchestrator reports to it and never to MLflow directly."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from automl.data.splits import fold_std


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial, as trackers and reports see it."""

    number: int
    state: str  # COMPLETE, PRUNED or FAIL
    params: dict[str, Any]  # PipelineSpec.flat_params()
    fold_scores: tuple[float, ...]
    value: float | None
    start_ms: int
    end_ms: int
    error: str | None = None
    extra_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def cv_std(self) -> float | None:
        return fold_std(self.fold_scores)


class Tracker(Protocol):
    def start_search(
        self, name: str, params: dict[str, Any], description: str, resume_id: str | None
    ) -> str | None:
        """Open (or reopen) the parent run; returns its id so a resumed search can reuse it."""

    def log_trial(self, trial: TrialRecord, metric: str) -> None: ...

    def log_artifacts(self, files: dict[str, Path]) -> None:
        """Attach files to the parent run: {artifact sub-folder: local file or folder}."""

    def finish_search(self, summary: dict[str, Any], best_trial: int | None, status: str) -> None: ...


class NullTracker:
    """Tracks nothing: for tests and for users who opt out."""

    def start_search(self, name, params, description, resume_id):
        return None

    def log_trial(self, trial, metric):
        pass

    def log_artifacts(self, files):
        pass

    def finish_search(self, summary, best_trial, status):
        pass
