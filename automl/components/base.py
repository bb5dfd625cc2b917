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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sklearn.base import BaseEstimator

from automl.components.runtime import DEFAULT_RUNTIME, Runtime
from automl.data.dataset import Modality
from automl.data.profile import DataProfile
from automl.registry import Registry
from automl.space.domains import Domain

ALL_MODALITIES = frozenset(Modality)


@dataclass(frozen=True)
class BuildContext:
    """What ``build`` may use besides the sampled params. Never sampled, never logged.

    ``build`` reads only ``profile`` and ``seed``; ``build_pipeline`` binds ``runtime`` to the
    estimator it returns (see ``automl.components.runtime``).
    """

    profile: DataProfile
    seed: int = 0
    runtime: Runtime = DEFAULT_RUNTIME


# Learners of this cost or more (fine-tuners, SetFit: minutes a fit on a CPU) are scored on
# the first CV repeat only, and one such trial may take at most EXPENSIVE_TRIAL_SHARE of the
# search budget: its folds split that time, and its training loop stops at the fold's share.
# A quarter leaves a 5-minute search room for ten or more cheap trials besides; with an hour
# or more the cap no longer binds at the default step counts.
EXPENSIVE_COST = 2
EXPENSIVE_TRIAL_SHARE = 0.25


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
    # (domains, profile, budget seconds) -> (domains narrowed to what one trial can afford
    # within the budget, a note saying what was left out or None).
    afford: Callable[[dict[str, Domain], DataProfile, float], tuple[dict[str, Domain], str | None]] | None = (
        None
    )


# The modules that register the built-in components, imported on the first lookup of any of
# the three registries. Modules whose optional dependencies are missing still register; their
# ``available()`` says what to install. A new component module is added here, once.
COMPONENT_MODULES = (
    "automl.components.features.tabular",
    "automl.components.learners.classical",
    "automl.components.semi.pseudo_label",
    "automl.components.audio.features",
    "automl.components.audio.cnn",
    "automl.components.images.embed",
    "automl.components.images.finetune",
    "automl.components.text.features",
    "automl.components.text.finetune",
)
LEARNERS: Registry[ComponentInfo] = Registry("learner", COMPONENT_MODULES)
FEATURES: Registry[ComponentInfo] = Registry("featuriser", COMPONENT_MODULES)
SEMI: Registry[ComponentInfo] = Registry("semi-supervised method", COMPONENT_MODULES)
_BY_KIND = {"learner": LEARNERS, "features": FEATURES, "semi": SEMI}


def register(info: ComponentInfo) -> ComponentInfo:
    _BY_KIND[info.kind].register(info.name, info)
    return info


def estimator_builder(
    estimator: type, names: dict[str, str]
) -> Callable[[dict[str, Any], BuildContext], BaseEstimator]:
    """``build`` for a component whose space parameters map one to one onto arguments of its
    estimator (``names``: space parameter -> argument); the search's seed is passed as ``seed``."""

    def build(params: dict[str, Any], ctx: BuildContext) -> BaseEstimator:
        return estimator(**{names[k]: v for k, v in params.items()}, seed=ctx.seed)

    return build


def defaults_of(estimator: type, names: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """A component's default params read from its estimator's constructor, so the registry
    and the class cannot disagree. ``names`` maps each space parameter to the constructor
    argument it sets; ``overrides`` are defaults that depend on the data profile."""
    params = estimator().get_params(deep=False)
    return {space: params[arg] for space, arg in names.items()} | overrides
