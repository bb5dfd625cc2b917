"""The budget is a deadline: it bounds every trial and reserves time for the final refit."""

from __future__ import annotations

import time

# The refit trains the winner once on all data: about one fold's fit times k/(k-1). We keep
# at least this share of the budget for it, and more once the best trial shows it needs more.
MIN_RESERVE_FRACTION = 0.05
MIN_RESERVE_SECONDS = 3.0
REFIT_SAFETY = 1.5


class Deadline:
    def __init__(self, seconds: float, clock=time.monotonic, reserve: float | None = None) -> None:
        self._clock = clock
        self.start = clock()
        self.end = self.start + seconds
        self.reserve = (
            max(MIN_RESERVE_SECONDS, MIN_RESERVE_FRACTION * seconds) if reserve is None else reserve
        )

    def end_no_later_than(self, seconds_from_now: float) -> None:
        """Move the end earlier (a worker following its study's shared deadline)."""
        self.end = min(self.end, self._clock() + max(0.0, seconds_from_now))

    def expect_refit(self, fit_seconds: float) -> None:
        """Grow the reserve to cover refitting a model that took ``fit_seconds`` per fold."""
        self.reserve = min(max(self.reserve, REFIT_SAFETY * fit_seconds), 0.5 * (self.end - self.start))

    def search_left(self) -> float:
        """Seconds left for trials (the refit reserve excluded)."""
        return max(0.0, self.end - self.reserve - self._clock())

    def total_left(self) -> float:
        return max(0.0, self.end - self._clock())

    def elapsed(self) -> float:
        return self._clock() - self.start
