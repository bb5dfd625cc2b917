"""Which choices mattered: Optuna's fANOVA importances, then summed per strategy group.

Optuna assesses only parameters present in every trial it looks at, so conditional ones
(a learner's own hyperparameters, a backbone's augmentation) are invisible across the whole
study. Importances are therefore computed twice: across all trials (the choices every trial
makes: learner, features, semi) and within each learner's trials (that branch's parameters).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import optuna

from automl.components.base import FEATURES, LEARNERS, SEMI

# fANOVA fits a random forest to (params -> score); with fewer trials than this per scope the
# numbers are noise presented as insight.
MIN_TRIALS = 3
ALL_TRIALS = "all trials"
_PREFIX_GROUPS = (
    ("augment.", "augmentation"),
    ("reg.", "regularisation"),
    ("ssl.", "semi-supervised / SSL"),
    ("semi.", "semi-supervised / SSL"),
    ("finetune.", "fine-tuning"),
)
_STRATEGY_GROUPS = {
    "classical": "classical learner",
    "finetune": "fine-tuning",
    "transfer": "backbone / encoder",
    "semi": "semi-supervised / SSL",
    "ssl": "semi-supervised / SSL",
}


@dataclass(frozen=True)
class Importances:
    scope: str  # ALL_TRIALS or a learner name
    n_trials: int
    values: dict[str, float]  # Optuna param name -> importance, summing to 1 within the scope


def param_group(name: str) -> str:
    """The strategy group of an Optuna param name (``learner``, ``embed.augment.views``, ...)."""
    if name in ("learner", "features"):
        return {"learner": "learner choice", "features": "features"}[name]
    if name == "semi":
        return "semi-supervised / SSL"
    component, _, param = name.partition(".")
    if param in ("backbone", "encoder"):
        return "backbone / encoder"
    for prefix, group in _PREFIX_GROUPS:
        if param.startswith(prefix):
            return group
    for registry in (LEARNERS, FEATURES, SEMI):
        if component in registry:
            info = registry.get(component)
            if info.kind == "features":
                return "features"
            return _STRATEGY_GROUPS.get(info.strategy, f"{info.strategy} learner")
    return "other"


def importances(study: optuna.Study) -> tuple[list[Importances], list[str]]:
    """(importances per scope, notes on scopes that could not be assessed)."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    scopes = {ALL_TRIALS: done}
    for t in done:
        if "learner" in t.params:
            scopes.setdefault(t.params["learner"], []).append(t)
    out, notes = [], []
    for scope, trials in scopes.items():
        result = _assess(study, scope, trials)
        if isinstance(result, str):
            notes.append(result)
        else:
            out.append(result)
    return out, notes


def grouped(imp: Importances) -> dict[str, float]:
    groups: dict[str, float] = {}
    for name, value in imp.values.items():
        groups[param_group(name)] = groups.get(param_group(name), 0.0) + value
    return dict(sorted(groups.items(), key=lambda kv: -kv[1]))


def _assess(study: optuna.Study, scope: str, trials: list) -> Importances | str:
    if len(trials) < MIN_TRIALS:
        return (
            f"{scope}: {len(trials)} complete trial(s), fewer than the {MIN_TRIALS} "
            "needed to estimate importances."
        )
    shared = set.intersection(*(set(t.params) for t in trials))
    # A parameter that never changed explains nothing (and makes fANOVA fail).
    varied = sorted(p for p in shared if len({repr(t.params[p]) for t in trials}) > 1)
    if not varied:
        return f"{scope}: no parameter took more than one value in its complete trials."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = optuna.importance.get_param_importances(
                _sub_study(study, trials),
                params=varied,
                evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
            )
    except (ValueError, RuntimeError) as e:
        return f"{scope}: importances could not be estimated ({e})."
    return Importances(scope, len(trials), {k: float(v) for k, v in values.items()})


def _sub_study(study: optuna.Study, trials: list) -> optuna.Study:
    """An in-memory copy holding only ``trials``: Optuna assesses whole studies."""
    sub = optuna.create_study(direction=study.direction)
    sub.add_trials(trials)
    return sub
