"""Where and how a fit or a prediction runs: device, threads, time limit, cache, the pool.

None of it is a hyperparameter. It reaches an estimator through ``set_runtime`` (the search
binds it when it builds a pipeline from a spec, ``automl predict`` when it loads a model), is
never part of ``get_params()`` (so ``clone`` does not copy it) and is never pickled (so a saved
model holds no device, no cache path and no unlabelled data).
"""

from __future__ import annotations

import functools
import os
import sys
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Runtime:
    device: str = "cpu"
    n_jobs: int = 1
    cache_dir: str | None = None  # content-addressed store for embeddings / adapted backbones
    time_limit: float | None = None  # seconds this fit may take; iterative learners stop early
    search_left: float | None = None  # seconds left for the whole search (shared one-off costs)
    unlabelled: Any | None = None  # the unlabelled pool, same type as X
    # Seconds a one-off cost may take in this call (embedding the pool with a backbone for the
    # first time): a featuriser that measures it cannot finish in time raises Unaffordable.
    one_off_seconds: float | None = None


DEFAULT_RUNTIME = Runtime()

# A one-off cost that every later trial reuses (adapting a backbone to the pool, embedding the
# pool with a backbone for the first time) is charged to the search, not to the fold that
# happens to trigger it: it may use this share of the time left. A fold's slice (a 10-minute
# budget over 15 folds gives ~35 s) would stop MLM after a few steps; the whole time left
# would let one trial's pool embedding (~110 s for Lite2 on 2,000 images, 1 thread) eat the
# rest of a 5-minute search.
ONE_OFF_SHARE = 0.3


def one_off_limit(runtime: Runtime) -> float | None:
    """Seconds a one-off cost may take now; None outside a search with no time limit."""
    if runtime.search_left is not None:
        return ONE_OFF_SHARE * runtime.search_left
    return None if runtime.time_limit is None else 0.5 * runtime.time_limit


class Unaffordable(Exception):
    """A one-off step (an SSL adaptation) measured that it cannot do its minimum useful work in
    the time it may use. The trial is skipped, not failed: a longer budget affords it."""


def pick_device(requested: str | None = None, needs_torch: bool = True) -> str:
    """``requested`` if given, else cuda when torch sees a GPU, else cpu. With ``needs_torch``
    False (a loaded model that never imported torch) torch is not imported just to ask: its
    import and CUDA probe cost seconds."""
    if requested:
        return requested
    if not needs_torch and "torch" not in sys.modules:
        return "cpu"
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# Training steps run their forward pass in bfloat16 (weights, optimiser state and the saved
# model stay float32) where the hardware computes bfloat16 natively: a SetFit step on mpnet took
# 2.45 s against 5.45 s in float32 on 2-core AVX512-BF16 CPUs, and embeddings agreed to a cosine
# of 0.99997. Without native support bfloat16 is emulated and slower, so float32 stays. The
# transformer learners use it (SetFit, text fine-tuning, MLM): their steps are matrix products.
# The image and audio CNNs do not: an EfficientNet-Lite0 step (batch 32, 128 px) took 0.99 s in
# bfloat16 against 0.89 s in float32 on the same CPUs (depthwise convolutions gain nothing).
# AUTOML_TRAIN_PRECISION=fp32 (or bf16) overrides the choice.
PRECISION_ENV = "AUTOML_TRAIN_PRECISION"


@functools.cache
def _cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def train_precision(device: str) -> str:
    """``bf16`` or ``fp32``: the precision of a training step's forward pass on ``device``."""
    chosen = os.environ.get(PRECISION_ENV, "").strip().lower()
    if chosen in ("fp32", "bf16"):
        return chosen
    if device.startswith("cuda"):
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device == "cpu" and _cpu_has_native_bf16() else "fp32"


def training_autocast(device: str) -> Any:
    """Context for a training step's forward pass and loss: bfloat16 autocast where
    ``train_precision`` says so, else a no-op."""
    import torch

    kind = "cuda" if device.startswith("cuda") else "cpu"
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=train_precision(device) == "bf16")


class UsesRuntime:
    """Mixin for estimators whose fit or predict depends on the runtime.

    Fitted torch modules (attributes ending in ``_``) follow the runtime's device, so a model
    saved from a GPU is moved to the CPU before pickling and to the chosen device on load.
    """

    _runtime: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        return self.__dict__.get("_runtime") or DEFAULT_RUNTIME

    def set_runtime(self, runtime: Runtime):
        self._runtime = runtime
        torch = sys.modules.get("torch")  # no fitted module exists unless torch was imported
        if torch is not None:
            for name, value in vars(self).items():
                if name.endswith("_") and isinstance(value, torch.nn.Module):
                    value.to(runtime.device)
        return self

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never edit the live __dict__
        state.pop("_runtime", None)
        return state


def bind_runtime(estimator: Any, runtime: Runtime) -> Any:
    """Give ``estimator`` (and, for composites, its parts) the runtime. Plain scikit-learn
    estimators are left alone: their ``n_jobs`` is a constructor argument set at build time
    where it pays (a ColumnTransformer given n_jobs=2 spends seconds starting processes)."""
    if hasattr(estimator, "set_runtime"):
        estimator.set_runtime(runtime)
    return estimator


class TimeLimit:
    """A fit's time limit. Loops stop at ``share`` of it: the last epoch or step, the
    predictions on the validation fold and the bookkeeping still have to fit inside it."""

    def __init__(self, seconds: float | None, share: float = 0.9) -> None:
        self.seconds = seconds
        self.share = share
        self.start = time.monotonic()
        self.reached = False  # whether a loop was stopped by it: the fit trained less than planned

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def out_of_time(self) -> bool:
        if self.seconds is not None and self.elapsed() > self.share * self.seconds:
            self.reached = True
        return self.reached


def set_threads(n_jobs: int) -> None:
    import torch

    torch.set_num_threads(max(1, n_jobs))


def limit_threads(n_jobs: int):
    """A context in which BLAS and OpenMP (NumPy, scikit-learn, XGBoost) use at most ``n_jobs``
    threads. Their default is every core: next to another search or worker, OpenBLAS threads
    spin for each other and a logistic regression on 21 rows took 125 ms instead of 5 ms."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=max(1, n_jobs))
