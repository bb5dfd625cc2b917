"""The trial loop every process of a study runs, the first `automl search` and each
`automl worker` alike: take a slot under the study's quota, run one trial, log it, repeat until
the study's deadline or trial count is spent.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from collections.abc import Callable

import optuna
from optuna.trial import TrialState

from automl.exceptions import first_line
from automl.logger import log
from automl.pipeline.metrics import MetricInfo
from automl.search.budget import Deadline
from automl.search.objective import log_trial, trial_record
from automl.search.quota import StudyLock, running_trials, taken_trials
from automl.search.signals import Stop
from automl.search.study import FINISHED
from automl.timing import timed
from automl.tracking.base import Tracker, TrialRecord

WORKER_KEY = "automl.worker"  # user attr: which process ran the trial (host:pid)
POLL_SECONDS = 2.0


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class TrialLog:
    """Reports finished trials to the tracker. A tracking server that is down must not stop
    the search: failed reports are kept and retried after the next trial and at the end."""

    def __init__(self, tracker: Tracker, metric: MetricInfo) -> None:
        self.tracker = tracker
        self.metric = metric
        self.pending: list[TrialRecord] = []
        self._failing = False  # warned once for the current outage

    def add(self, rec: TrialRecord) -> None:
        self.pending.append(rec)
        self.flush()

    def flush(self) -> None:
        with timed("tracking"):
            self._flush()

    def _flush(self) -> None:
        while self.pending:
            rec = self.pending[0]
            try:
                self.tracker.log_trial(rec, self.metric.name)
            except Exception as e:
                # Once per outage: a server that is down for an hour is news once, not per trial.
                (log.debug if self._failing else log.warning)(
                    "Could not log trial %d to the tracker (%s); %d trial(s) are kept and sent when "
                    "it answers.",
                    rec.number,
                    first_line(e, 120),
                    len(self.pending),
                )
                self._failing = True
                return
            self.pending.pop(0)
            self._failing = False


def run_trials(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    *,
    lock: StudyLock,
    limit: Callable[[], int | None],
    deadline: Deadline,
    trial_log: TrialLog,
    on_best: Callable[[optuna.trial.FrozenTrial], None] | None = None,
    on_trial: Callable[[], None] | None = None,
    stop: Stop | None = None,
) -> str:
    """Run trials until the budget or the study's trial count is spent, or Ctrl-C.
    Returns why it stopped: ``budget``, ``trials`` or ``interrupted``.

    With ``stop``, a signal interrupts only the objective; one that arrives while Optuna
    records a trial is acted on once the record is complete."""
    me = worker_id()
    stop = stop or Stop()

    def slot_taken_objective(trial: optuna.Trial) -> float:
        lock.release()  # the trial exists (RUNNING) and counts: others may take the next slot
        trial.set_user_attr(WORKER_KEY, me)
        return stop.interruptible(lambda: objective(stop.trial(trial)))

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        rec = trial_record(trial)
        log_trial(rec, trial_log.metric.name)
        trial_log.add(rec)
        if on_best and trial.state == TrialState.COMPLETE and _is_best(study, trial):
            on_best(trial)
        if on_trial:
            on_trial()

    try:
        while True:
            if stop.requested:
                stop.announce()
                return "interrupted"
            if deadline.search_left() <= 0:
                return "budget"
            stop.interruptible(lock.acquire)  # may wait on other processes: Ctrl-C ends the wait
            try:
                with stop.shielded():
                    # Trials of killed workers are failed (and re-queued once) here, before counting.
                    _fail_stale(study)
                    cap = limit()
                    if cap is not None and taken_trials(study) >= cap:
                        lock.release()
                        if not running_trials(study):
                            return "trials"
                        # Others are still running the last trials; one may die and be re-queued.
                        time.sleep(POLL_SECONDS)
                        continue
                    study.optimize(
                        slot_taken_objective, n_trials=1, catch=(Exception,), callbacks=[after_trial]
                    )
            finally:
                lock.release()
    except KeyboardInterrupt:
        lock.release()
        return "interrupted"
    finally:
        trial_log.flush()


def _fail_stale(study: optuna.Study) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def wait_for_running(study: optuna.Study, timeout: float) -> None:
    """Give other workers' last trials (bounded by the same deadline) time to finish, so the
    final choice sees them."""
    end = time.monotonic() + timeout
    while running_trials(study) and time.monotonic() < end:
        _fail_stale(study)
        time.sleep(min(POLL_SECONDS, max(0.0, end - time.monotonic())))
    if running_trials(study):
        log.info(
            "%d trial(s) of other workers still running; choosing among the finished ones.",
            running_trials(study),
        )


def backfill(study: optuna.Study, trial_log: TrialLog, logged: set[int]) -> int:
    """Report finished trials the tracker has not seen: trials of workers that were killed
    (failed by the heartbeat) or whose reports were lost while the server was down."""
    missing = [t for t in study.get_trials(deepcopy=False, states=FINISHED) if t.number not in logged]
    for t in missing:
        trial_log.pending.append(trial_record(t))
    trial_log.flush()
    return len(missing) - len(trial_log.pending)


def _is_best(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
    try:
        return study.best_trial.number == trial.number
    except ValueError:
        return False
