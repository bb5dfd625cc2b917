"""What a report is made of, read back from a search's run folder and its Optuna study.

Everything comes from disk, so ``automl report`` can rebuild the page of any finished search:
``summary.json`` and ``profile.json`` (written at the end of a search), ``labels.json`` (the
encoded labels, for the confusion matrix) and the study in the Optuna storage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from automl.data.profile import DataProfile
from automl.exceptions import AutoMLError, first_line
from automl.logger import log
from automl.search.objective import MAX_OOF_VALUES
from automl.search.study import Problem, make_storage, stored_problem

LABELS_FILE = "labels.json"


@dataclass(frozen=True)
class ReportInputs:
    run_dir: Path
    summary: dict[str, Any]
    profile: DataProfile
    problem: Problem | None
    study: optuna.Study
    y: np.ndarray | None  # encoded labels 0..K-1 in row order, or None when not saved

    @property
    def classes(self) -> list[str]:
        if self.problem is not None:
            return [str(c) for c in self.problem.classes]
        return [str(c) for c in self.profile.class_counts]

    @property
    def maximize(self) -> bool:
        return self.study.direction == optuna.study.StudyDirection.MAXIMIZE


def save_labels(run_dir: Path, y: np.ndarray, n_classes: int) -> Path | None:
    """Write the encoded labels beside the summary. Skipped past the size at which trials stop
    keeping out-of-fold probabilities: there would be nothing to compare the labels to."""
    if len(y) * n_classes > MAX_OOF_VALUES:
        return None
    path = Path(run_dir) / LABELS_FILE
    path.write_text(json.dumps({"y": np.asarray(y, dtype=int).tolist()}))
    return path


def load_inputs(run_dir: Path, study: optuna.Study | None = None, storage: str | None = None) -> ReportInputs:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise AutoMLError(
            f"--run {run_dir} does not exist (or is not a folder). Pass the run folder of a "
            "finished search: <output>/<study>, e.g. automl-runs/wine."
        )
    summary = _read_json(run_dir / "summary.json", run_dir)
    profile = DataProfile.from_dict(_read_json(run_dir / "profile.json", run_dir))
    if study is None:
        if not isinstance(summary.get("study"), str):
            raise AutoMLError(
                f"{run_dir / 'summary.json'} names no study: it is not a complete search summary. "
                "Re-run the search (the same --study resumes) to rewrite it."
            )
        study = _load_study(run_dir, summary["study"], storage or _recorded(summary, run_dir))
    labels = run_dir / LABELS_FILE
    y = np.asarray(json.loads(labels.read_text())["y"], dtype=int) if labels.is_file() else None
    return ReportInputs(run_dir, summary, profile, stored_problem(study), study, y)


def _read_json(path: Path, run_dir: Path) -> dict[str, Any]:
    if not path.is_file():
        raise AutoMLError(
            f"{run_dir} has no {path.name}: it is not the folder of a finished "
            "search. Pass --run <output>/<study> (e.g. automl-runs/wine), after "
            "`automl search` has finished."
        )
    try:
        data = json.loads(path.read_text())
    except ValueError as e:
        raise AutoMLError(
            f"{path} is not valid JSON ({first_line(e)}): the search may have been "
            "interrupted while writing it. Re-run the search (the same --study resumes) to rewrite it."
        ) from None
    if not isinstance(data, dict):
        raise AutoMLError(f"{path} holds no JSON object: it is not a file written by `automl search`.")
    return data


def _recorded(summary: dict, run_dir: Path) -> str | None:
    """The storage URL the search recorded, unless its credentials were redacted, or its SQLite
    file is gone (the output folder was moved or copied: then the optuna.db beside the run)."""
    url = summary.get("storage")
    if not url or "***" in url:
        return None
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
        log.warning(
            "The search's storage %s is gone; reading the study from the optuna.db beside %s.", url, run_dir
        )
        return None
    return url


def _load_study(run_dir: Path, name: str, storage: str | None) -> optuna.Study:
    if storage is None:
        # The default storage of `automl search`: SQLite in the output folder, the run's parent.
        db = run_dir.resolve().parent / "optuna.db"
        if not db.is_file():
            raise AutoMLError(
                f"No Optuna storage at {db}. If the search used --storage, pass "
                "the same URL to `automl report --storage`."
            )
        storage = f"sqlite:///{db}"
    try:
        return optuna.load_study(study_name=name, storage=make_storage(storage))
    except KeyError:
        raise AutoMLError(
            f"Study {name!r} is not in the Optuna storage; pass the --storage the search used."
        ) from None
