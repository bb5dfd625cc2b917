"""Search-space presets: YAML that selects components and narrows their declared domains.

```yaml
# purpose: ...   cost: ...
learners:                 # learner name -> overrides of its declared domains
  logreg: {C: {low: 0.001, high: 100}, penalty: [l2]}
  xgboost: {}
features:                 # featuriser name -> overrides
  tabular: {}
semi:                     # semi-supervised wrappers; used only when there is unlabelled data
  pseudo_label: {}
start:                    # evaluated first, in order, at each component's defaults
  - {learner: logreg, features: tabular}
  - {learner: logreg, features: tabular, with: {C: 0.1}}   # defaults, with some values set
```
An override is ``{low, high[, log]}`` for numbers, a list for choices, or a value to fix.
Everything is checked on load against the registries; unknown names get a did-you-mean.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from automl.components.base import FEATURES, LEARNERS, SEMI, ComponentInfo
from automl.data.profile import DataProfile
from automl.exceptions import SearchSpaceError, first_line
from automl.logger import log
from automl.space.domains import CategoricalDomain, Domain, Fixed
from automl.space.spec import SSL_METHOD

# automl/presets links to the top-level search_spaces/, so presets ship inside the package.
PRESET_DIR = Path(__file__).resolve().parents[1] / "presets"
SSL_PARAM = SSL_METHOD  # declared by components that can load an SSL-adapted backbone


@dataclass(frozen=True)
class StartPoint:
    """A preset's ``start`` entry: components at their defaults, ``overrides`` (YAML ``with``)
    set some values."""

    learner: str
    features: str | None = None
    semi: str = "none"
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchSpace:
    learners: dict[str, dict[str, Domain]]
    features: dict[str, dict[str, Domain]]
    start: tuple[StartPoint, ...]
    source: str
    notes: tuple[str, ...] = ()
    semi: dict[str, dict[str, Domain]] = field(default_factory=dict)

    def strategies(self) -> list[str]:
        names = [f"{LEARNERS.get(n).name} ({LEARNERS.get(n).strategy})" for n in self.learners]
        if self.features:
            names.append("features: " + ", ".join(self.features))
        ssl = ssl_choices(self)
        if ssl:
            names.append(
                "self-supervised pretraining on the pool: "
                + ", ".join(f"{m} ({', '.join(users)})" for m, users in ssl.items())
                + " (or none)"
            )
        if self.semi:
            names.append("semi-supervised: " + ", ".join(self.semi) + " (or none)")
        return names


def ssl_choices(space: SearchSpace) -> dict[str, list[str]]:
    """SSL method -> the components that may load a backbone adapted with it."""
    out: dict[str, list[str]] = {}
    for name, domains in {**space.features, **space.learners}.items():
        dom = domains.get(SSL_PARAM)
        choices = (
            dom.choices
            if isinstance(dom, CategoricalDomain)
            else ((dom.value,) if isinstance(dom, Fixed) else ())
        )
        for method in choices:
            if method != "none":
                out.setdefault(method, []).append(name)
    return out


def preset_path(modality: str) -> Path:
    return PRESET_DIR / f"{modality}.yaml"


def load_space(path: str | Path | None, profile: DataProfile, budget: float | None = None) -> SearchSpace:
    """Read a preset (the modality's own when ``path`` is None) and check it fully."""
    path = Path(path) if path else preset_path(profile.modality)
    if not path.is_file():
        raise SearchSpaceError(
            f"Search-space file {path} does not exist. Pass --space with a YAML "
            f"file, or omit it to use the preset for {profile.modality} data."
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        # One line: PyYAML's own message spans several, with excerpts and carets.
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or first_line(e)
        raise SearchSpaceError(
            f"{path} is not valid YAML: {problem}{where}. Fix the file there (a YAML linter shows the spot)."
        ) from None
    return build_space(raw, profile, source=str(path), budget=budget)


def build_space(
    raw: dict[str, Any], profile: DataProfile, source: str = "<dict>", budget: float | None = None
) -> SearchSpace:
    """The checked space; with ``budget`` (seconds), components leave out the choices one
    trial could not afford in it (an 8x slower encoder for SetFit on a short budget)."""
    if not isinstance(raw, dict):
        raise SearchSpaceError(f"{source}: expected a mapping with 'learners', 'features', 'start'.")
    unknown = set(raw) - {"learners", "features", "semi", "start"}
    if unknown:
        raise SearchSpaceError(
            f"{source}: unknown top-level key(s) {sorted(unknown)}; allowed: learners, features, semi, start."
        )
    notes: list[str] = []
    learners = _select(raw.get("learners") or {}, LEARNERS, "learners", profile, source, notes, budget)
    features = _select(raw.get("features") or {}, FEATURES, "features", profile, source, notes, budget)
    semi = _select(raw.get("semi") or {}, SEMI, "semi", profile, source, notes, budget)
    if semi and not profile.n_unlabelled:
        notes.append(
            f"No unlabelled data, so semi-supervised methods ({', '.join(semi)}) are "
            "left out; pass --unlabelled to let the search weigh them."
        )
        semi = {}
    notes.extend(_ssl_notes(learners, features, profile))
    if not learners:
        raise SearchSpaceError(f"{source}: no usable learner for {profile.modality} data. " + " ".join(notes))
    needs_features = [n for n in learners if LEARNERS.get(n).consumes == "features"]
    if needs_features and not features:
        raise SearchSpaceError(
            f"{source}: learners {needs_features} need a featuriser, but none "
            f"usable is listed under 'features'. " + " ".join(notes)
        )
    start: list[StartPoint] = []
    for i, point in enumerate(raw.get("start") or []):
        where = f"{source}: start[{i}]"
        if not isinstance(point, dict) or "learner" not in point:
            raise SearchSpaceError(f"{where}: expected {{learner: NAME, features: NAME}}, got {point!r}.")
        if point["learner"] not in learners or (point.get("features") and point["features"] not in features):
            continue  # refers to a component left out (unavailable here): skip quietly, noted above
        if point.get("semi", "none") != "none" and point["semi"] not in semi:
            continue  # no unlabelled data (or method unavailable)
        overrides: dict[str, Any] = dict(point.get("with") or {})
        domains = {**learners[point["learner"]], **features.get(point.get("features") or "", {})}
        undeclared = [k for k in overrides if k not in domains]
        if (
            undeclared
            and not profile.n_unlabelled
            and all(k in _pool_only_params(point, profile) for k in undeclared)
        ):
            continue  # tries SSL, which needs unlabelled data (said in the notes)
        if undeclared:
            raise SearchSpaceError(
                f"{where}: 'with' sets unknown parameter(s) {undeclared}; known: {', '.join(domains)}."
            )
        try:
            for k, v in overrides.items():
                domains[k].check(f"{where}.with.{k}", v)
        except SearchSpaceError as e:  # e.g. a backbone not available here: skip this point
            notes.append(f"start point {i} skipped: {e}")
            continue
        start.append(
            StartPoint(
                str(point["learner"]),
                str(point["features"]) if point.get("features") else None,
                str(point.get("semi", "none")),
                overrides,
            )
        )
    return SearchSpace(learners, features, tuple(start), source, tuple(notes), semi)


def _pool_only_params(point: dict, profile: DataProfile) -> set[str]:
    """Parameters the point's components declare only when there is an unlabelled pool."""
    pooled = replace(profile, n_unlabelled=1)
    infos = [LEARNERS.get(point["learner"])] + (
        [FEATURES.get(point["features"])] if point.get("features") else []
    )
    return {k for info in infos for k in set(info.space(pooled)) - set(info.space(profile))}


def _ssl_notes(learners: dict, features: dict, profile: DataProfile) -> list[str]:
    users = [n for n, d in {**features, **learners}.items() if SSL_PARAM in d]
    if users:
        return [
            f"Self-supervised continued pretraining ({SSL_PARAM}) is searched for "
            f"{', '.join(users)}: the backbone is adapted on the {profile.n_unlabelled} "
            "unlabelled items only (never on labelled ones, so every fold sees the same "
            "adapted weights), trained once by the first trial that picks it and then read "
            "from the cache."
        ]
    if profile.n_unlabelled:
        return []
    pooled = replace(profile, n_unlabelled=1)
    would = [
        n
        for reg, sel in ((FEATURES, features), (LEARNERS, learners))
        for n in sel
        if SSL_PARAM in reg.get(n).space(pooled)
    ]
    if not would:
        return []
    return [
        f"No unlabelled data, so self-supervised continued pretraining ({SSL_PARAM} on "
        f"{', '.join(would)}) is left out; pass --unlabelled to let the search weigh it."
    ]


def _select(
    section: dict,
    registry,
    key: str,
    profile: DataProfile,
    source: str,
    notes: list[str],
    budget: float | None = None,
) -> dict[str, dict[str, Domain]]:
    if not isinstance(section, dict):
        raise SearchSpaceError(f"{source}: '{key}' must map component names to overrides.")
    out: dict[str, dict[str, Domain]] = {}
    for name, overrides in section.items():
        if name not in registry:
            raise SearchSpaceError(f"{source}: {registry.unknown_message(name)}")
        info: ComponentInfo = registry.get(name)
        if profile.modality not in {m.value for m in info.modalities}:
            raise SearchSpaceError(
                f"{source}: {registry.kind} {name!r} does not work on "
                f"{profile.modality} data; remove it from '{key}'."
            )
        why = info.available()
        if why:
            notes.append(f"{registry.kind} {name!r} left out: {why}.")
            log.warning("%s %r left out of the search space: %s", registry.kind, name, why)
            continue
        why = info.suits(profile)
        if why:
            notes.append(f"{registry.kind} {name!r} left out for this data: {why}.")
            continue
        domains = narrow_domains(info, overrides or {}, profile, f"{source}: {key}.{name}")
        if budget is not None and info.afford is not None:
            domains, note = info.afford(domains, profile, budget)
            if note:
                notes.append(f"{registry.kind} {name!r}: {note}")
        out[name] = domains
    return out


def narrow_domains(
    info: ComponentInfo, overrides: dict, profile: DataProfile, where: str
) -> dict[str, Domain]:
    if not isinstance(overrides, dict):
        raise SearchSpaceError(
            f"{where}: overrides must be a mapping of parameter -> range, got {overrides!r}."
        )
    domains = dict(info.space(profile))
    for param, override in overrides.items():
        if param not in domains:
            close = difflib.get_close_matches(param, list(domains), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise SearchSpaceError(
                f"{where}: unknown parameter {param!r}.{hint} Known: {', '.join(domains) or 'none'}."
            )
        domains[param] = domains[param].narrow(f"{where}.{param}", override)
    return domains
