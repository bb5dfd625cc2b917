"""Optuna storage and the study, which is also where the problem definition is persisted.

The study's user attributes hold the data fingerprint, profile, metric and fold plan, so a
resumed search (or another worker) evaluates exactly the same problem the same way.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna

from automl.config import redact_url
from automl.data.profile import DataProfile
from automl.data.splits import FoldPlan
from automl.exceptions import ConfigError, DataError, describe

# The states of a trial that has ended, and will never run again.
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)

# A worker that dies mid-trial stops sending heartbeats; after the grace period its trial is
# marked failed and retried once by whoever runs next, so no work is silently lost.
HEARTBEAT_SECONDS = 20
GRACE_SECONDS = 60
PROBLEM_KEY = "automl.problem"
SETTINGS_KEY = "automl.settings"  # how to load the data and run: read by workers
SEARCH_END_KEY = "automl.search_end"  # wall-clock time (epoch s) when trials must stop
JOURNAL_PREFIX = "journal://"


def value_of(trial: optuna.trial.FrozenTrial) -> float:
    """A complete trial's CV score (Optuna types it optional: other states have none)."""
    if trial.value is None:
        raise ValueError(f"trial {trial.number} ({trial.state.name}) has no value")
    return float(trial.value)


def best_first(trials: list[optuna.trial.FrozenTrial], maximize: bool) -> list[optuna.trial.FrozenTrial]:
    """Complete trials, best CV score first: the order of every leaderboard."""
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
    return sorted(done, key=value_of, reverse=maximize)


def refit_fold_seconds(trial: optuna.trial.FrozenTrial) -> float:
    """A fold's fit time, as the refit reserve should count it. A learner its time limit cut
    short in the folds (SetFit, fine-tuning) is refitted to its whole planned schedule when the
    budget allows: that is the model its hyperparameters name, and its CV, from a shorter
    training, is then not an overstatement of it. So the reserve counts the whole schedule
    (the refit reserve caps it at half the budget)."""
    attrs = trial.user_attrs
    return float(attrs.get("full_fit_seconds") or attrs.get("fit_seconds", 0.0))


def journal_path(url: str) -> Path | None:
    """The file of a ``journal://`` URL, None for other URLs. The path is absolute, as in
    ``file://`` URLs: ``journal:///abs/optuna.journal`` (three slashes; more are folded). A
    relative path (``journal://optuna.journal``) is refused: the search, its workers and
    ``automl report`` would each read it from their own working folder."""
    if not url.startswith(JOURNAL_PREFIX):
        return None
    path = url[len(JOURNAL_PREFIX) :]
    if not path.startswith("/"):
        raise ConfigError(
            f"Journal storage {url}: the path {path!r} is relative. Give an absolute path after "
            f"journal:// (three slashes in all), e.g. journal://{Path(path or 'optuna.journal').absolute()}."
        )
    return Path("/" + path.lstrip("/"))


def make_storage(url: str, heartbeat: float = HEARTBEAT_SECONDS) -> optuna.storages.BaseStorage:
    """An Optuna storage from a URL: any SQLAlchemy URL (sqlite, postgresql, mysql) or
    ``journal:///abs/path/optuna.journal`` for Optuna's journal file, which several processes
    on one machine can share without SQLite's locking errors."""
    path = journal_path(url)
    if path is not None:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        if not path.parent.is_dir():
            raise ConfigError(
                f"Journal storage {url}: the folder {path.parent} does not exist. "
                "Create it, or give a path in an existing folder."
            )
        return JournalStorage(JournalFileBackend(str(path)))
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Wait for a lock instead of failing at once when another process writes.
        engine_kwargs = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    try:
        with warnings.catch_warnings():
            # Heartbeats are marked experimental, but they are Optuna's own mechanism for
            # failing and retrying trials of dead workers.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=max(1, int(heartbeat)),
                grace_period=max(2, int(heartbeat * GRACE_SECONDS / HEARTBEAT_SECONDS)),
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
            )
    except Exception as e:
        raise ConfigError(
            f"Cannot open the Optuna storage {redact_url(url)}: {describe(e)}. Check the URL (e.g. "
            "sqlite:///path/optuna.db or postgresql://user@host:5432/db) and that "
            "the database server is running."
        ) from None


@dataclass(frozen=True)
class Problem:
    """What every trial of a study must agree on."""

    fingerprint: str
    data: str
    modality: str
    metric: str
    direction: Literal["minimize", "maximize"]
    profile: DataProfile
    folds: FoldPlan
    space_source: str
    classes: list

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "data": self.data,
            "modality": self.modality,
            "metric": self.metric,
            "direction": self.direction,
            "profile": self.profile.to_dict(),
            "folds": self.folds.to_dict(),
            "space_source": self.space_source,
            "classes": [str(c) for c in self.classes],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Problem:
        return cls(
            d["fingerprint"],
            d["data"],
            d["modality"],
            d["metric"],
            d["direction"],
            DataProfile.from_dict(d["profile"]),
            FoldPlan.from_dict(d["folds"]),
            d["space_source"],
            d["classes"],
        )


def open_study(
    storage: optuna.storages.BaseStorage, name: str, direction: Literal["minimize", "maximize"], seed: int
) -> tuple[optuna.Study, bool]:
    """Load the study if it exists (resume), else create it. Returns (study, created)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # group=True splits the conditional space by learner, so TPE models each branch.
        sampler = optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, constant_liar=True, n_startup_trials=8
        )
    # Prune a trial whose running CV mean falls below the median of earlier trials at the same
    # fold; the first fold alone is too noisy on small data to judge.
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    try:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
        created = False
    except KeyError:
        try:
            study = optuna.create_study(
                study_name=name, storage=storage, sampler=sampler, pruner=pruner, direction=direction
            )
            created = True
        except optuna.exceptions.DuplicatedStudyError:  # another worker created it just now
            study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
            created = False
    return study, created


def stored_problem(study: optuna.Study) -> Problem | None:
    raw = study.user_attrs.get(PROBLEM_KEY)
    return Problem.from_dict(raw) if raw else None


def check_same_problem(stored: Problem, fingerprint: str, metric: str, study_name: str) -> None:
    if stored.fingerprint != fingerprint:
        raise DataError(
            f"Study {study_name!r} was created on different data ({stored.data}, fingerprint "
            f"{stored.fingerprint}); this data has fingerprint {fingerprint}. Its trials would not "
            f"be comparable. Use a new --study name (or --output folder) for this data."
        )
    if stored.metric != metric:
        raise ConfigError(
            f"Study {study_name!r} optimises {stored.metric!r}, but --metric {metric!r} was given. "
            f"Resume with --metric {stored.metric}, or start a new --study."
        )
