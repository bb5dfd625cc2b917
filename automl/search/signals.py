"""SIGTERM (what Slurm, Kubernetes and systemd send) stops a search as Ctrl-C does: the
running trial is marked failed, every finished one is kept, and the best so far is refitted
and exported. A second signal of either kind exits at once."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from automl.logger import log


class Stop:
    """Signal handling for one search. While trials run, the first signal raises
    KeyboardInterrupt (the trial loop turns it into a clean stop); once the search is
    finishing (selection, refit, export), it is only noted, so the export completes. The next
    signal ends the process with the signal's exit status (128 + its number)."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._finishing = False

    def finishing(self) -> None:
        self._finishing = True

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
        log.warning(
            "%s received: stopping after the running step; the best so far will be exported. "
            "Send it again to exit at once.",
            name,
        )
        raise KeyboardInterrupt


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
