"""Adapted checkpoints: trained once, stored content-addressed, published atomically.

``<cache>/artifacts/ssl-<key>/`` holds the weights (a Hugging Face folder for text encoders,
``backbone.pt`` for image backbones) and, beside them, ``loss.json`` (the loss of every step),
``loss.png`` (the same curve, for MLflow) and ``meta.json`` (method, settings, pool size,
steps, seconds, whether the time limit stopped training). The key hashes the backbone, the
method, its settings and the content of the pool items used, never the time limit: a run cut
short by its time limit is still the adaptation for that key, and ``meta.json`` says so.

While one process trains a key it holds ``ssl-<key>.lock``; a second process that wants the
same key waits for it and then loads the result instead of training it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from automl.cache import ArtifactCache, make_key
from automl.components.runtime import Unaffordable
from automl.data.dataset import item_keys
from automl.logger import log
from automl.timing import timed

# An adaptation stopped partway through its first epoch has seen only part of the pool with a
# learning rate that never decayed: on cifar10-few (2,000-image pool, 5-minute budgets, 3
# seeds) every such SimCLR run probed below the stock backbone in CV on train (0.59/0.62/0.58
# vs 0.65/0.64/0.63) and cost ~70 s. So once a few steps have shown the speed, a run whose
# first epoch cannot finish in its time limit stops there and the trial is skipped; one that
# reaches its limit inside the first epoch anyway (a slow first step) is skipped too.
MEASURE_STEPS = 4
# A pace that far over the limit needs no more steps to show: on sst2-few, MLM on mpnet
# (~790 s an epoch against a 57 s limit) spent 66 s measuring its first five steps.
CLEAR_MARGIN = 3.0


class TrainingRun:
    """Bookkeeping shared by every method: the per-step loss and the time limit. A method
    that calls ``plan(steps_per_epoch)`` is stopped with ``Unaffordable`` when, measured over
    its first steps, one epoch would not fit in the time limit."""

    def __init__(self, time_limit: float | None) -> None:
        self.time_limit = time_limit
        self.losses: list[float] = []
        self.stopped_early = False
        self.epoch_steps: int | None = None
        self._t0 = time.monotonic()
        self._t_first: float | None = None  # since _t0: setup (decoding, loading) and step 1

    def plan(self, steps_per_epoch: int) -> None:
        self.epoch_steps = max(1, int(steps_per_epoch))

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def log_step(self, loss: float) -> None:
        self.losses.append(round(float(loss), 5))
        n = len(self.losses)
        if n == 1:
            self._t_first = self.elapsed()  # the first step carries one-off warm-up costs
        elif n <= MEASURE_STEPS:
            self._check_affordable(CLEAR_MARGIN)
        elif n == MEASURE_STEPS + 1:
            self._check_affordable()

    def projected_epoch(self) -> float | None:
        """Seconds one epoch takes at the measured pace (setup included); None before it shows."""
        n = len(self.losses)
        if self.epoch_steps is None or self._t_first is None or n < 2:
            return None
        per_step = (self.elapsed() - self._t_first) / (n - 1)
        return self._t_first + per_step * (self.epoch_steps - 1)

    def _check_affordable(self, margin: float = 1.0) -> None:
        epoch = self.projected_epoch()
        if self.time_limit is None or epoch is None:
            return
        if epoch > margin * self.time_limit and len(self.losses) < (self.epoch_steps or 0):
            raise Unaffordable(
                f"one epoch ({self.epoch_steps} steps) would take ~{epoch:.0f}s at the measured "
                f"pace, more than the {self.time_limit:.0f}s it may use now; skipped (a longer "
                "--budget, fewer pool items or a GPU affords it)"
            )

    def out_of_time(self) -> bool:
        """True once the time limit has passed (the method then stops and saves). Before the
        first epoch is complete that is not an adaptation worth keeping: ``Unaffordable``."""
        if self.time_limit is not None and self.elapsed() > self.time_limit:
            if self.epoch_steps is not None and len(self.losses) < self.epoch_steps:
                raise Unaffordable(
                    f"its time limit of {self.time_limit:.0f}s passed after {len(self.losses)} of the "
                    f"{self.epoch_steps} steps of its first epoch; skipped (a longer --budget, fewer "
                    "pool items or a GPU affords it)"
                )
            self.stopped_early = True
        return self.stopped_early


def select_pool(pool: Any, max_items: int, seed: int) -> tuple[Any, list[str]]:
    """Unique pool items (by content), at most ``max_items`` drawn with ``seed``, in content-key
    order: the same pool gives the same selection whatever order it was listed in."""
    pool = np.asarray(pool, dtype=object)
    keys = item_keys(pool)
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(str(k), i)
    ordered = sorted(first)
    if len(ordered) > max_items:
        pick = np.random.default_rng(seed).choice(len(ordered), max_items, replace=False)
        ordered = [ordered[i] for i in np.sort(pick)]
    return pool[np.array([first[k] for k in ordered], dtype=int)], ordered


def adapted_checkpoint(
    cache_dir: str | None,
    parts: dict[str, Any],
    pool_keys: list[str],
    train: Callable[[Path, TrainingRun], None],
    time_limit: float | None,
) -> Path:
    """The folder of the adaptation described by ``parts`` on the pool items ``pool_keys``;
    ``train(folder, run)`` writes the weights into ``folder`` when it is not cached yet."""
    key = "ssl-" + make_key(**parts, pool=make_key(items=pool_keys))
    cache = ArtifactCache(cache_dir or _scratch_dir())
    if cache.has(key):
        log.debug("SSL %s: reusing the adapted checkpoint %s", parts["method"], key)
        return cache.path(key)
    with _exclusive(cache.path(key).with_name(f"{key}.lock")):
        if cache.has(key):  # another worker trained it while this one waited
            return cache.path(key)
        log.info(
            "SSL %s: adapting %s on %d unlabelled items (%d epoch(s)%s)",
            parts["method"],
            parts["backbone"],
            len(pool_keys),
            parts["epochs"],
            f", at most {time_limit:.0f}s" if time_limit else "",
        )
        run = TrainingRun(time_limit)
        t0 = time.perf_counter()
        with cache.writing(key) as tmp, timed("ssl"):
            try:
                train(tmp, run)
            except Unaffordable as e:  # nothing is cached: a later trial with more time may try
                log.info("SSL %s on %s not adapted: %s", parts["method"], parts["backbone"], e)
                raise
            seconds = time.perf_counter() - t0
            (tmp / "loss.json").write_text(json.dumps(run.losses))
            plot_losses(run.losses, tmp / "loss.png", f"{parts['method']} on {parts['backbone']}")
            meta = {
                **parts,
                "key": key,
                "pool_items": len(pool_keys),
                "steps": len(run.losses),
                "seconds": round(seconds, 2),
                "stopped_early": run.stopped_early,
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    (log.warning if run.stopped_early else log.info)(
        "SSL %s: %d steps in %.1fs%s, loss %.3f -> %.3f; saved as %s",
        parts["method"],
        len(run.losses),
        seconds,
        " (stopped by the time limit)" if run.stopped_early else "",
        run.losses[0] if run.losses else float("nan"),
        run.losses[-1] if run.losses else float("nan"),
        key,
    )
    return cache.path(key)


def read_meta(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "meta.json").read_text())


def collect_curves(cache_dir: str | None, dest: Path) -> Path | None:
    """Copy the loss curves and ``meta.json`` of every adapted checkpoint in the cache (small
    files, not the weights) to ``dest/<key>/``, for the run folder and MLflow; None if none."""
    found = sorted(ArtifactCache(cache_dir).root.glob("artifacts/ssl-*/meta.json")) if cache_dir else []
    for meta in found:
        out = dest / meta.parent.name
        out.mkdir(parents=True, exist_ok=True)
        for name in ("meta.json", "loss.json", "loss.png"):
            if (meta.parent / name).is_file():
                shutil.copyfile(meta.parent / name, out / name)
    return dest if found else None


def plot_losses(losses: list[float], path: Path, title: str) -> None:
    try:
        from matplotlib.figure import Figure  # the OO API: no global backend switch
    except ImportError:
        log.debug("matplotlib is not installed; %s not drawn (loss.json has the curve)", path.name)
        return
    fig = Figure(figsize=(5, 3), dpi=100)
    ax = fig.add_subplot()
    ax.plot(np.arange(1, len(losses) + 1), losses, lw=1)
    if len(losses) >= 10:  # the raw curve is noisy at batch 32; a running mean shows the trend
        k = max(5, len(losses) // 20)
        ax.plot(np.arange(k, len(losses) + 1), np.convolve(losses, np.ones(k) / k, "valid"), lw=2)
    ax.set(xlabel="step", ylabel="loss", title=title)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    fig.savefig(tmp)
    os.replace(tmp, path)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An OS file lock: released by the kernel if the holder dies, so it can never go stale."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: two workers may train the same key; both results are valid
        yield
        return
    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@lru_cache(maxsize=1)
def _scratch_dir() -> str:
    # Without a cache folder (a bare estimator outside a search) the checkpoint still has to
    # live somewhere for the model to load it; one temporary folder per process.
    return tempfile.mkdtemp(prefix="automl-ssl-")
