"""The budget is a deadline: it bounds every trial and reserves time for the final refit."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

# The refit trains the winner once on all data: about one fold's fit times k/(k-1). We keep
# at least this share of the budget for it, and more once the best trial shows it needs more.
MIN_RESERVE_FRACTION = 0.05
MIN_RESERVE_SECONDS = 3.0
REFIT_SAFETY = 1.5
# The whole command ends within this much of its --budget: max(2% of it, 10 s). A refit that
# fails or overruns hands over to the next-best trial inside this allowance.
OVERTIME_SHARE = 0.02
OVERTIME_SECONDS = 10.0


class Deadline:
    def __init__(self, seconds: float, clock=time.monotonic, reserve: float | None = None) -> None:
        self._clock = clock
        self.start = clock()
        self.end = self.start + seconds
        self.seconds = seconds
        self.reserve = (
            max(MIN_RESERVE_SECONDS, MIN_RESERVE_FRACTION * seconds) if reserve is None else reserve
        )
        self.aside = 0.0  # set aside for work after the trials and before the refit

    def end_no_later_than(self, seconds_from_now: float) -> None:
        """Move the end earlier (a worker following its study's shared deadline)."""
        self.end = min(self.end, self._clock() + max(0.0, seconds_from_now))

    def expect_refit(self, fit_seconds: float) -> None:
        """Grow the reserve to cover refitting a model that took ``fit_seconds`` per fold."""
        self.reserve = min(max(self.reserve, REFIT_SAFETY * fit_seconds), 0.5 * (self.end - self.start))

    def set_aside(self, seconds: float) -> None:
        """Keep ``seconds`` for a step between the trials and the refit (the learning curve)."""
        self.aside = max(0.0, seconds)

    def aside_left(self) -> float:
        """Seconds for that step now: what is left before the refit reserve."""
        return max(0.0, self.end - self.reserve - self._clock())

    def search_left(self) -> float:
        """Seconds left for trials (the refit reserve and the set-aside time excluded)."""
        return max(0.0, self.end - self.reserve - self.aside - self._clock())

    def total_left(self) -> float:
        return max(0.0, self.end - self._clock())

    def elapsed(self) -> float:
        return self._clock() - self.start


# Cooperative stops (time limits per fold, per SSL run, per pseudo-labelling round) end most
# work in time; the alarm is the backstop for a step that overruns anyway (an embedding of a
# new backbone, a slow classical fit). It fires this long after the step's own end.
HARD_STOP_GRACE = 2.0


class DeadlineReached(BaseException):
    """Raised inside a step that outran its hard deadline. A BaseException, like
    KeyboardInterrupt, so that no ``except Exception`` on the way swallows it."""


@contextmanager
def hard_deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block with DeadlineReached once ``seconds`` have passed.

    Uses SIGALRM, which Python delivers between bytecodes: a torch forward pass, an XGBoost
    round or an L-BFGS iteration ends first, so a step stops within a second or two. Only the
    main thread of a process can receive it; elsewhere (an API caller's thread) the block runs
    unguarded and the cooperative time limits alone apply.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    message = f"hard deadline of {seconds:.0f}s reached"
    fired = False

    def fire(signum, frame):
        nonlocal fired
        fired = True
        raise DeadlineReached(message)

    # Raised inside a C library's callback into Python (XGBoost's data iterator), the exception
    # cannot cross the C frames: Python prints it as "Exception ignored" with a traceback and the
    # library fails with its own error, or carries on. That print is dropped here, and the block
    # still ends in DeadlineReached.
    hook = sys.unraisablehook

    def unraisable(info) -> None:
        if not isinstance(info.exc_value, DeadlineReached):
            hook(info)

    previous = signal.signal(signal.SIGALRM, fire)
    sys.unraisablehook = unraisable
    signal.setitimer(signal.ITIMER_REAL, max(0.01, seconds))
    try:
        yield
    except Exception as e:
        if fired:
            raise DeadlineReached(message) from e
        raise
    else:
        if fired:  # swallowed on the way (by a C caller that carried on): the block still overran
            raise DeadlineReached(message)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.unraisablehook = hook
        signal.signal(signal.SIGALRM, previous)
