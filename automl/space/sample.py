"""The only code that calls ``trial.suggest_*``: a trial becomes a PipelineSpec."""

from __future__ import annotations

from typing import Any

import optuna

from automl.components.base import FEATURES, LEARNERS, SEMI
from automl.components.pretrain.base import NONE
from automl.data.profile import DataProfile
from automl.space.domains import (
    CategoricalDomain,
    Conditional,
    Domain,
    Fixed,
    FloatDomain,
    IntDomain,
    clip_to,
)
from automl.space.preset import SearchSpace
from automl.space.spec import SSL_METHOD, ComponentSpec, PipelineSpec


def optuna_name(component: str, param: str) -> str:
    # Prefixed by component: two components may share a param name with different domains,
    # and Optuna requires one distribution per name within a study.
    return f"{component}.{param}"


def suggest_pipeline(trial: optuna.Trial, space: SearchSpace, pool: bool = True) -> PipelineSpec:
    """The trial's pipeline. With ``pool`` False it is drawn from the part of the space that
    does not read the unlabelled pool: the pool's parameters (the semi-supervised method, each
    component's SSL method) are then not sampled at all, rather than sampled and overridden, so
    the sampler never sees a value that was not used."""
    learner = _choose(trial, "learner", list(space.learners))
    features = None
    if LEARNERS.get(learner).consumes == "features":
        fname = _choose(trial, "features", list(space.features))
        features = ComponentSpec(fname, _suggest_params(trial, fname, space.features[fname], pool))
    semi = None
    if space.semi and pool:
        # "none" is always a choice: whether the pool helps is decided by CV like the rest.
        method = trial.suggest_categorical("semi", ["none", *space.semi])
        if method != "none":
            semi = ComponentSpec(method, _suggest_params(trial, method, space.semi[method]))
    return PipelineSpec(
        ComponentSpec(learner, _suggest_params(trial, learner, space.learners[learner], pool)), features, semi
    )


def _choose(trial: optuna.Trial, name: str, choices: list[str]) -> str:
    return choices[0] if len(choices) == 1 else trial.suggest_categorical(name, choices)


def _suggest_params(
    trial: optuna.Trial, component: str, domains: dict[str, Domain], pool: bool = True
) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for param, domain in domains.items():
        if isinstance(domain, Conditional):
            if not domain.active(chosen):
                continue
            domain = domain.inner
        name = optuna_name(component, param)
        if (
            not pool
            and param == SSL_METHOD
            and isinstance(domain, CategoricalDomain)
            and NONE in domain.choices
        ):
            chosen[param] = NONE  # stock weights: not sampled (see suggest_pipeline)
        elif isinstance(domain, Fixed):
            chosen[param] = domain.value
        elif isinstance(domain, FloatDomain):
            chosen[param] = trial.suggest_float(name, domain.low, domain.high, log=domain.log)
        elif isinstance(domain, IntDomain):
            chosen[param] = trial.suggest_int(name, domain.low, domain.high, log=domain.log)
        elif isinstance(domain, CategoricalDomain):
            chosen[param] = (
                domain.choices[0]
                if len(domain.choices) == 1
                else trial.suggest_categorical(name, list(domain.choices))
            )
        else:
            raise TypeError(f"unknown domain {domain!r} for {name}")
    return chosen


def start_points(space: SearchSpace, profile: DataProfile) -> list[dict[str, Any]]:
    """Optuna params for the preset's start points, at each component's (clipped) defaults."""
    points = []
    for point in space.start:
        params: dict[str, Any] = {}
        if len(space.learners) > 1:
            params["learner"] = point.learner
        comps = [(LEARNERS.get(point.learner), space.learners[point.learner])]
        if comps[0][0].consumes == "features":
            fname = point.features or next(iter(space.features))
            if len(space.features) > 1:
                params["features"] = fname
            comps.append((FEATURES.get(fname), space.features[fname]))
        for info, domains in comps:
            defaults = {
                **info.defaults(profile),
                **{k: v for k, v in point.overrides.items() if k in domains},
            }
            params.update(_default_params(info.name, defaults, domains))
        if space.semi:
            params["semi"] = point.semi
            if params["semi"] != "none":
                info = SEMI.get(params["semi"])
                params.update(_default_params(info.name, info.defaults(profile), space.semi[info.name]))
        points.append(params)
    return points


def _default_params(component: str, defaults: dict[str, Any], domains: dict[str, Domain]) -> dict:
    chosen: dict[str, Any] = {}
    out: dict[str, Any] = {}
    for param, domain in domains.items():
        if isinstance(domain, Conditional) and not domain.active(chosen):
            continue
        inner = domain.inner if isinstance(domain, Conditional) else domain
        value = clip_to(inner, defaults[param]) if param in defaults else _midpoint(inner)
        chosen[param] = value
        if isinstance(inner, Fixed) or (isinstance(inner, CategoricalDomain) and len(inner.choices) == 1):
            continue
        out[optuna_name(component, param)] = value
    return out


def _midpoint(domain: Domain) -> Any:
    if isinstance(domain, Fixed):
        return domain.value
    if isinstance(domain, CategoricalDomain):
        return domain.choices[0]
    if isinstance(domain, Conditional):
        return _midpoint(domain.inner)
    if domain.log:
        mid = (domain.low * domain.high) ** 0.5
    else:
        mid = (domain.low + domain.high) / 2
    return type(domain.low)(mid)
