"""SIGTERM (what Slurm, Kubernetes and systemd send) stops a search as Ctrl-C does: the
running trial is marked failed, every finished one is kept, and the best so far is refitted
and exported. A second signal of either kind exits at once.

Only a trial's own work is cut short. A signal that lands while Optuna asks for or records a
trial (or starts and stops its heartbeat thread) is held until that bookkeeping is done: an
exception raised there can leave a trial RUNNING or a heartbeat thread that never stops, and a
live non-daemon thread keeps the finished process from exiting. The same holds for the trial's
own storage calls made from inside its work (a user attribute, a fold's report): a
KeyboardInterrupt inside an SQLite commit left the session unusable, Optuna could then not
record the trial as failed, and the search ended in a traceback. Those calls go through
``Stop.trial`` and the interrupt is raised once the call is complete."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from automl.logger import log

T = TypeVar("T")


class Stop:
    """Signal handling for one search. While a trial's work runs, the first signal raises
    KeyboardInterrupt (the trial loop turns it into a clean stop); inside a shielded block
    (Optuna's bookkeeping) it is recorded and the loop stops when the block ends; once the search is
    finishing (selection, refit, export), it is only noted, so the export completes. The next
    signal ends the process with the signal's exit status (128 + its number)."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._finishing = False
        self._shielded = 0
        self._interruptible = False
        self._announced = False

    @property
    def requested(self) -> bool:
        return bool(self.received)

    def finishing(self) -> None:
        self._finishing = True

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """A signal inside the block is recorded, not raised; see ``requested``. Inside
        ``interruptible`` work it is raised when the outermost block completes."""
        self._shielded += 1
        try:
            yield
        finally:
            self._shielded -= 1
        if self._interruptible and not self._shielded and self.requested:
            self.announce()
            raise KeyboardInterrupt

    def interruptible(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` where a signal interrupts it, inside a shielded block. A signal that
        arrived while shielded interrupts before ``fn`` starts."""
        if self.requested:
            self.announce()
            raise KeyboardInterrupt
        saved = self._shielded, self._interruptible
        self._shielded, self._interruptible = 0, True
        try:
            return fn()
        finally:
            self._shielded, self._interruptible = saved

    def trial(self, trial: Any) -> Any:
        """``trial`` (an Optuna trial) whose storage calls, its study's included, complete
        before a signal interrupts the work that made them."""
        return _Shielded(trial, self)

    def announce(self) -> None:
        """Say (once) that a signal was received, when the handler itself could not."""
        if self.received and not self._announced:
            self._announced = True
            log.warning(
                "%s received: stopping; the best so far will be exported. Send it again to exit at once.",
                signal.Signals(self.received[0]).name,
            )

    def handle(self, signum, frame) -> None:
        self.received.append(signum)
        name = signal.Signals(signum).name
        if len(self.received) > 1:
            log.error("Second signal (%s): exiting now, without finishing the export.", name)
            os._exit(128 + signum)
        if self._finishing:
            log.warning(
                "%s received while exporting the model: finishing the export first. Send it "
                "again to exit at once.",
                name,
            )
            return
        if self._shielded:
            # No logging here: the signal may have landed inside the log handler's own write.
            return
        self._announced = True
        log.warning(
            "%s received: stopping after the running step; the best so far will be exported. "
            "Send it again to exit at once.",
            name,
        )
        raise KeyboardInterrupt


class _Shielded:
    """Every attribute read and method call of the wrapped object runs in ``stop.shielded()``;
    ``study`` is wrapped likewise (the objective reads other trials through it)."""

    def __init__(self, target: Any, stop: Stop) -> None:
        self._target = target
        self._stop = stop

    def __getattr__(self, name: str) -> Any:
        with self._stop.shielded():
            value = getattr(self._target, name)
        if name == "study":
            return _Shielded(value, self._stop)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._stop.shielded():
                return value(*args, **kwargs)

        return call


@contextmanager
def graceful_stop() -> Iterator[Stop]:
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.signal(s, stop.handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
