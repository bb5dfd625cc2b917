"""PipelineSpec: one sampled configuration, frozen and serialisable.

The trial, the final refit and the exported model are all built from the same spec by
``automl.pipeline.build.build_pipeline``, so what was evaluated is exactly what ships.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# Parameter names shared across components are logged without the component prefix, so the
# MLflow compare view lines up e.g. every trial's ``backbone`` or ``augment.mixup``.
SHARED_PREFIXES = ("augment.", "reg.", "ssl.", "semi.", "finetune.")
SHARED_NAMES = ("backbone", "encoder", "resolution", "max_length", "pooling")
SSL_METHOD = "ssl.method"  # the parameter of components that can load SSL-adapted weights


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}


@dataclass(frozen=True)
class PipelineSpec:
    """``features`` turns raw X into a matrix (None when the learner takes raw X itself)."""

    learner: ComponentSpec
    features: ComponentSpec | None = None
    semi: ComponentSpec | None = None  # a semi-supervised wrapper around the whole pipeline

    def to_dict(self) -> dict[str, Any]:
        return {
            "learner": self.learner.to_dict(),
            "features": self.features.to_dict() if self.features else None,
            "semi": self.semi.to_dict() if self.semi else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PipelineSpec:
        feat, semi = d.get("features"), d.get("semi")
        return cls(
            learner=ComponentSpec(**d["learner"]),
            features=ComponentSpec(**feat) if feat else None,
            semi=ComponentSpec(**semi) if semi else None,
        )

    def flat_params(self) -> dict[str, Any]:
        """Params as logged to MLflow: ``learner``, ``features`` and each component's values."""
        out: dict[str, Any] = {
            "learner": self.learner.name,
            "features": self.features.name if self.features else "none",
            "semi": self.semi.name if self.semi else "none",
        }
        for comp in (self.features, self.learner, self.semi):
            if comp is None:
                continue
            for k, v in comp.params.items():
                shared = k in SHARED_NAMES or k.startswith(SHARED_PREFIXES)
                out[k if shared else f"{comp.name}.{k}"] = v
        return out

    def uses_pool(self) -> bool:
        """Whether it trains on the unlabelled pool: pseudo-labels, or SSL-adapted weights."""
        if self.semi is not None:
            return True
        return any(
            str(c.params.get(SSL_METHOD, "none")) != "none"
            for c in (self.features, self.learner)
            if c is not None
        )

    def describe(self) -> str:
        """One line for logs and leaderboards."""

        def fmt(c: ComponentSpec) -> str:
            ps = ", ".join(f"{k}={_short(v)}" for k, v in c.params.items())
            return f"{c.name}({ps})" if ps else c.name

        core = " -> ".join(fmt(c) for c in (self.features, self.learner) if c is not None)
        return f"{fmt(self.semi)}[{core}]" if self.semi else core


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)
