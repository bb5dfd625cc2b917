"""How many trials a study may still start, agreed by every worker on it.

``--trials N`` must mean N finished trials even with several workers: checking the count and
creating the trial happen under one lock shared through the storage itself (a PostgreSQL
advisory lock, or a file lock beside a SQLite/journal file), so two workers cannot both take
the last slot. Optuna's own ``MaxTrialsCallback`` counts after the fact and overshoots by up
to one trial per worker.
"""

from __future__ import annotations

import fcntl
import zlib
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from automl.logger import log
from automl.search.study import journal_path

TAKEN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)


def taken_trials(study: optuna.Study) -> int:
    """Trials that count against the quota: finished or running, except failed trials that
    Optuna's heartbeat retried (their retry is the one that counts)."""
    trials = study.get_trials(deepcopy=False, states=TAKEN)
    retried = {t.system_attrs.get("failed_trial") for t in study.get_trials(deepcopy=False)}
    return sum(1 for t in trials if not (t.state == TrialState.FAIL and t.number in retried))


def running_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


class StudyLock:
    """A mutex shared by every process that opens the same storage URL and study."""

    def __init__(self, storage_url: str, study_name: str) -> None:
        self.url = storage_url
        self.key = zlib.crc32(f"automl:{study_name}".encode()) - 2**31  # signed 32-bit
        self._held = False
        self._conn: Any = None  # a sqlalchemy Connection while a PostgreSQL lock is held
        self._file: Any = None  # the open lock file while a file lock is held
        self._engine: Any = None
        self._path: Path | None = None
        if storage_url.startswith("postgresql"):
            import sqlalchemy
            import sqlalchemy.pool

            # No pool: the lock's connection lives only while the lock is held.
            self._engine = sqlalchemy.create_engine(storage_url, poolclass=sqlalchemy.pool.NullPool)
        else:
            self._path = _local_path(storage_url)
            if self._path is None:
                log.warning(
                    "No cross-process lock for storage %s: with several workers, "
                    "--trials may be exceeded by up to one trial per worker.",
                    storage_url.split("://")[0],
                )

    def acquire(self) -> None:
        if self._held:
            return
        if self._engine is not None:
            import sqlalchemy

            self._conn = self._engine.connect()
            self._conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
        elif self._path is not None:
            self._file = open(self._path, "a+")
            fcntl.flock(self._file, fcntl.LOCK_EX)
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        if self._conn is not None:
            import sqlalchemy

            try:
                self._conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            finally:
                self._conn.close()
                self._conn = None
        elif self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _local_path(url: str) -> Path | None:
    # Not "<file>.lock": Optuna's journal backend uses that name for its own lock.
    journal = journal_path(url)
    if journal is not None:
        return Path(f"{journal}.automl-lock")
    if url.startswith("sqlite:///"):  # sqlite:////abs/file or sqlite:///relative/file
        return Path(url[len("sqlite:///") :] + ".automl-lock")
    return None
