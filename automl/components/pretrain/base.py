"""Self-supervised continued pretraining: adapt a pretrained backbone to the unlabelled pool.

One registry, ``SSL_METHODS``, of frozen ``SSLMethodInfo`` records (``mlm`` for text encoders,
``simclr`` and ``moco`` for image backbones). A component that can load adapted weights adds
``ssl_space(modality, profile)`` to its own space: ``ssl.method`` (``none`` or a method) and
``ssl.epochs``. Both exist only when the profile has an unlabelled pool, so without one the
space is exactly what it was. Its estimator takes them as ``ssl_method``/``ssl_epochs`` and
asks for the adapted weights when it is fitted.

The adaptation sees the runtime's unlabelled pool and nothing else: no labelled item, no label.
It is therefore the same for every fold and trial (cross-validation stays honest) and is
trained once; the first trial that asks for it pays, every later trial, worker and resumed
search loads it from the content-addressed cache (see ``checkpoint.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from automl.data.dataset import Modality
from automl.data.profile import DataProfile
from automl.exceptions import SearchSpaceError
from automl.registry import Registry
from automl.space.domains import CategoricalDomain, Conditional, Domain, IntDomain

NONE = "none"


@dataclass(frozen=True)
class SSLMethodInfo:
    """``train`` adapts the backbone in place from pool items only. Text methods take
    ``(model, tokenizer, texts, run, epochs, seed, device=)``, image methods
    ``(body, images, run, epochs, seed, transform, device=)``; ``run`` (a ``TrainingRun``)
    records the loss of every step and says when the time limit is reached."""

    name: str
    modality: Modality
    summary: str
    reference: str
    train: Callable[..., None]
    max_epochs: int = 3  # CPU-sized: one epoch over 2,000 items takes ~1-3 minutes


SSL_METHODS: Registry[SSLMethodInfo] = Registry(
    "SSL method", ("automl.components.pretrain.image_contrastive", "automl.components.pretrain.text_mlm")
)


def register_method(info: SSLMethodInfo) -> SSLMethodInfo:
    return SSL_METHODS.register(info.name, info)


def methods_for(modality: Modality) -> list[str]:
    return [m.name for m in SSL_METHODS if m.modality == modality]


def ssl_space(modality: Modality, profile: DataProfile) -> dict[str, Domain]:
    """The searched SSL choice of a component; empty without an unlabelled pool."""
    names = methods_for(modality)
    if not profile.n_unlabelled or not names:
        return {}
    top = max(SSL_METHODS.get(n).max_epochs for n in names)
    return {
        "ssl.method": CategoricalDomain((NONE, *names)),
        "ssl.epochs": Conditional(IntDomain(1, top), "ssl.method", tuple(names)),
    }


# Space parameter -> estimator argument, for every component that can load adapted weights.
# "none" is the estimators' default: the stock weights are the cheap strong start.
SSL_NAMES = {"ssl.method": "ssl_method", "ssl.epochs": "ssl_epochs"}


def chosen_method(method: str, pool: Any, modality: Modality) -> str | None:
    """``method``, or None for ``none``; raises when it cannot adapt this modality's backbones
    or there is no pool to adapt on."""
    if method == NONE:
        return None
    info = SSL_METHODS.get(method)
    if info.modality != modality:
        raise SearchSpaceError(
            f"ssl.method={method!r} adapts {info.modality.value} backbones, "
            f"not {modality.value} ones; choose one of {methods_for(modality)}."
        )
    if pool is None or len(pool) == 0:
        raise SearchSpaceError(
            f"ssl.method={method!r} needs an unlabelled pool to adapt on: pass "
            "--unlabelled, or set ssl.method to 'none'."
        )
    return method
