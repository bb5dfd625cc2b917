"""Opening a study again: the same problem, frozen when it was created, and the trials a
killed process left running."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from automl.config import SearchConfig
from automl.data.dataset import Dataset
from automl.data.profile import DataProfile
from automl.data.splits import make_fold_plan
from automl.exceptions import AutoMLError
from automl.logger import log
from automl.pipeline.metrics import MetricInfo
from automl.search.frozen import FROZEN_KEY, check_frozen, freeze, problem_view
from automl.search.loop import WORKER_KEY
from automl.search.study import (
    FINISHED,
    PROBLEM_KEY,
    Problem,
    check_same_problem,
    stored_problem,
)
from automl.space.preset import SearchSpace, load_space


def open_problem(
    study: optuna.Study,
    ds: Dataset,
    profile: DataProfile,
    metric: MetricInfo,
    y: np.ndarray,
    classes: np.ndarray,
    config: SearchConfig,
    space: SearchSpace,
) -> Problem:
    fingerprint = ds.fingerprint()
    stored = stored_problem(study)
    if stored is not None:
        check_same_problem(stored, fingerprint, metric.name, config.study_name)
        done = sum(t.state in FINISHED for t in study.trials)
        log.info("Resuming study %r: %d finished trial(s) kept, same folds.", config.study_name, done)
        return stored
    if study.trials:
        raise AutoMLError(
            f"Study {config.study_name!r} exists but was not created by automl. Pick another --study name."
        )
    problem = Problem(
        fingerprint,
        str(Path(config.data).resolve()),
        profile.modality,
        metric.name,
        metric.direction,
        profile,
        make_fold_plan(y, config.cv, config.seed, profile),
        space.source,
        classes.tolist(),
    )
    study.set_user_attr(PROBLEM_KEY, problem.to_dict())
    return problem


def freeze_or_check(
    study: optuna.Study,
    created: bool,
    space: SearchSpace,
    ds: Dataset,
    config: SearchConfig,
    metric: MetricInfo,
    profile: DataProfile,
) -> SearchSpace:
    """Freeze a new study's problem; refuse a resume whose problem differs. A resume resolves
    the space with the budget the study was created with, so that a longer --budget extends
    the search instead of offering other choices."""
    stored = study.user_attrs.get(FROZEN_KEY) or {}
    budget = stored.get("space_budget", config.budget.seconds)
    if budget != config.budget.seconds:
        space = load_space(config.space, profile, budget=budget)
    view = problem_view(space, ds.unlabelled, config.cv, metric.name, _space_yaml(space))
    if created:
        freeze(study, {**view, "space_budget": config.budget.seconds})
    else:
        check_frozen(study, view, "resume")
    return space


def _space_yaml(space: SearchSpace) -> Any:
    import yaml

    return yaml.safe_load(Path(space.source).read_text())


def fail_orphans(study: optuna.Study) -> None:
    """Trials left RUNNING by a process of this machine that is gone (a search killed with
    kill -9, a crash) are marked failed, so they are not waited for and can be retried."""
    host = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        owner = str(t.user_attrs.get(WORKER_KEY, ""))
        where, _, pid = owner.rpartition(":")
        if where == host and pid.isdigit() and not _alive(int(pid)):
            study._storage.set_trial_user_attr(
                t._trial_id, "error", f"its process ({owner}) ended while it ran (killed or crashed)"
            )
            study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
            log.info(
                "Trial %d was left running by a process that is gone (%s); marked failed.", t.number, owner
            )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
