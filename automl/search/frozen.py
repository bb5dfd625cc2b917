"""What a study is frozen to: the resolved space, the pool, the CV plan, the space file and the
metric, stored when the study is created. A resume or a worker whose own view differs (a
backbone installed or removed since, another --space, another pool, another --cv) would draw
categorical choices that mean something else and fail trial after trial in milliseconds, so
it is refused before any trial, with the difference named."""

from __future__ import annotations

from typing import Any

import optuna

from automl.data.dataset import content_hash
from automl.exceptions import ConfigError
from automl.space.preset import SearchSpace

FROZEN_KEY = "automl.frozen"


def problem_view(space: SearchSpace, pool: Any, cv: int, metric: str, space_yaml: Any) -> dict[str, Any]:
    """Everything that must match between the processes and runs of one study."""
    domains = {
        f"{kind}.{name}": {param: repr(domain) for param, domain in params.items()}
        for kind, section in (("learner", space.learners), ("features", space.features), ("semi", space.semi))
        for name, params in section.items()
    }
    return {
        "space": domains,
        "space_yaml": space_yaml,
        "pool": content_hash(pool) if pool is not None and len(pool) else None,
        "cv": cv,
        "metric": metric,
    }


def freeze(study: optuna.Study, view: dict[str, Any]) -> None:
    study.set_user_attr(FROZEN_KEY, view)


def check_frozen(study: optuna.Study, view: dict[str, Any], who: str) -> None:
    """Raise ConfigError naming what differs between ``study``'s frozen problem and ``view``.
    A study created before this check existed has none stored: it is frozen now."""
    stored = study.user_attrs.get(FROZEN_KEY)
    if stored is None:
        freeze(study, view)
        return
    name = study.study_name
    fix = f"Start a new study (--study NAME) for this, or {who} with what the study was created with."
    if stored["metric"] != view["metric"]:
        raise ConfigError(f"Study {name!r} optimises {stored['metric']!r}, not {view['metric']!r}. {fix}")
    if stored["cv"] != view["cv"]:
        raise ConfigError(
            f"Study {name!r} was created with --cv {stored['cv']}, not {view['cv']}: its "
            f"folds are fixed. {fix}"
        )
    if stored["pool"] != view["pool"]:
        had = "an unlabelled pool" if stored["pool"] else "no unlabelled pool"
        has = "a different one" if stored["pool"] and view["pool"] else ("one" if view["pool"] else "none")
        raise ConfigError(f"Study {name!r} was created with {had}; this run has {has} (--unlabelled). {fix}")
    if stored["space_yaml"] != view["space_yaml"]:
        raise ConfigError(f"Study {name!r} was created with another search space (--space). {fix}")
    if stored["space"] != view["space"]:
        raise ConfigError(
            f"Study {name!r}: {_space_difference(stored['space'], view['space'])}. Install or "
            f"remove packages so the components match (`automl backbones` lists what is "
            f"usable here), or start a new study (--study NAME)."
        )


def _space_difference(stored: dict, current: dict) -> str:
    for component in sorted(set(stored) | set(current)):
        if component not in current:
            return f"{component} was in the study's space but is not usable here"
        if component not in stored:
            return f"{component} is usable here but was not in the study's space"
        for param in sorted(set(stored[component]) | set(current[component])):
            a, b = stored[component].get(param), current[component].get(param)
            if a != b:
                return f"{component} {param} was {a} when the study was created and is {b} here"
    return "the resolved space differs"
