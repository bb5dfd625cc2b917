"""What a pluggable component is: a frozen ``ComponentInfo`` in one of two registries.

A *featuriser* turns a modality's raw X into a numeric matrix (tabular preprocessing, TF-IDF,
frozen backbone embeddings). A *learner* is a scikit-learn classifier: ``consumes="features"``
learners sit behind a featuriser, ``consumes="raw"`` learners (fine-tuners) take raw X.
A *semi-supervised* method wraps the whole pipeline and uses ``BuildContext.unlabelled``;
its ``build`` returns the wrapper with ``base=None`` and ``build_pipeline`` sets the base.

Each component declares its own legal parameter space, scaled by the data profile; presets in
``search_spaces/*.yaml`` only select components and narrow those domains. Parameter names are
short (``C``) unless shared across components, in which case they use the shared names of
``automl.space.spec`` (``backbone``, ``augment.*``, ``reg.*``) so MLflow lines them up.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

from sklearn.base import BaseEstimator

from automl.data.dataset import Modality
from automl.data.profile import DataProfile
from automl.registry import Registry
from automl.space.domains import Domain

ALL_MODALITIES = frozenset(Modality)


@dataclass(frozen=True)
class BuildContext:
    """What ``build`` may use besides the sampled params. Never sampled, never logged."""

    profile: DataProfile
    seed: int = 0
    n_jobs: int = 1
    cache_dir: str | None = None  # content-addressed store for embeddings / adapted backbones
    device: str = "cpu"
    time_limit: float | None = None  # seconds one fit may take; iterative learners stop early
    search_left: float | None = None  # seconds left for the whole search (shared one-off costs)
    unlabelled: Any | None = None  # the unlabelled pool, same type as X


@dataclass(frozen=True)
class ComponentInfo:
    name: str
    kind: Literal["learner", "features", "semi"]
    summary: str
    modalities: frozenset[Modality]
    space: Callable[[DataProfile], dict[str, Domain]]
    build: Callable[[dict[str, Any], BuildContext], BaseEstimator]
    defaults: Callable[[DataProfile], dict[str, Any]]  # a strong, cheap starting point
    consumes: Literal["features", "raw"] = "features"  # learners only
    cost: int = 1  # relative cost, 0 (milliseconds) .. 3 (minutes on a CPU); cheap runs first
    strategy: str = "classical"  # report grouping: classical, transfer, finetune, ssl, semi
    available: Callable[[], str | None] = lambda: None  # None, or why it cannot run here
    # None, or why this data's regime rules the component out (said in the regime notes).
    suits: Callable[[DataProfile], str | None] = lambda profile: None


LEARNERS: Registry[ComponentInfo] = Registry("learner")
FEATURES: Registry[ComponentInfo] = Registry("featuriser")
SEMI: Registry[ComponentInfo] = Registry("semi-supervised method")
_BY_KIND = {"learner": LEARNERS, "features": FEATURES, "semi": SEMI}


def register(info: ComponentInfo) -> ComponentInfo:
    _BY_KIND[info.kind].register(info.name, info)
    return info


def load_components() -> None:
    """Import every component module so each registers itself (idempotent)."""
    from automl.components import catalog  # noqa: F401
