"""Where a search's wall time goes: loading, embedding, SSL, fitting, predicting, bookkeeping.

``with timed("embedding"): ...`` adds the block's seconds to its category, minus the time of
any timed block nested inside it, so the categories add up to the timed total and a fold's
"fit" does not count the embedding it triggered twice. Per process and thread-safe enough for
one search (a worker has its own process); the search writes the shares to summary.json.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

CATEGORIES = ("load", "embedding", "ssl", "fit", "predict", "selection", "refit", "tracking", "report")
_totals: Counter[str] = Counter()
_local = threading.local()


@contextmanager
def timed(category: str) -> Iterator[None]:
    stack = _local.__dict__.setdefault("stack", [])
    start = time.perf_counter()
    stack.append(0.0)  # seconds spent in blocks nested inside this one
    try:
        yield
    finally:
        nested = stack.pop()
        spent = time.perf_counter() - start
        _totals[category] += spent - nested
        if stack:
            stack[-1] += spent


def totals(wall: float | None = None) -> dict[str, float]:
    """Seconds per category; with ``wall``, ``other`` is what no category claimed (Optuna's
    own work, waiting on locks and other workers, the live display)."""
    out = {c: round(_totals.get(c, 0.0), 2) for c in (*CATEGORIES, *sorted(set(_totals) - set(CATEGORIES)))}
    if wall is not None:
        out["other"] = round(max(0.0, wall - sum(out.values())), 2)
    return out


def reset() -> None:
    _totals.clear()
