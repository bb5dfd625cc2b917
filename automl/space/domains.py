"""Typed parameter domains. Components declare their legal domains; presets may only narrow them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from automl.exceptions import SearchSpaceError


@dataclass(frozen=True)
class FloatDomain:
    low: float
    high: float
    log: bool = False

    def narrow(self, where: str, override: Any) -> Domain:
        if not isinstance(override, dict):
            value = _as_float(where, override)
            self.check(where, value)
            return Fixed(value)
        low = _as_float(where, override.get("low", self.low))
        high = _as_float(where, override.get("high", self.high))
        log = bool(override.get("log", self.log))
        if not self.low <= low <= high <= self.high:
            raise SearchSpaceError(
                f"{where}: range [{low}, {high}] is outside the legal domain "
                f"[{self.low}, {self.high}] (or low > high). Pick bounds inside it."
            )
        if log and low <= 0:
            raise SearchSpaceError(f"{where}: a log range needs low > 0, but got {low=}.")
        return FloatDomain(low, high, log)

    def check(self, where: str, value: Any) -> None:
        if not (isinstance(value, (int, float)) and self.low <= value <= self.high):
            raise SearchSpaceError(f"{where}: {value!r} is outside [{self.low}, {self.high}].")


@dataclass(frozen=True)
class IntDomain:
    low: int
    high: int
    log: bool = False

    def narrow(self, where: str, override: Any) -> Domain:
        if not isinstance(override, dict):
            self.check(where, override)
            return Fixed(int(override))
        low, high = int(override.get("low", self.low)), int(override.get("high", self.high))
        if not self.low <= low <= high <= self.high:
            raise SearchSpaceError(
                f"{where}: range [{low}, {high}] is outside the legal domain "
                f"[{self.low}, {self.high}] (or low > high). Pick bounds inside it."
            )
        return IntDomain(low, high, bool(override.get("log", self.log)))

    def check(self, where: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise SearchSpaceError(f"{where}: {value!r} is not an integer in [{self.low}, {self.high}].")


@dataclass(frozen=True)
class CategoricalDomain:
    choices: tuple[Any, ...]

    def narrow(self, where: str, override: Any) -> Domain:
        if isinstance(override, dict):
            override = override.get("choices")
        if not isinstance(override, (list, tuple)):
            self.check(where, override)
            return Fixed(override)
        for value in override:
            self.check(where, value)
        if not override:
            raise SearchSpaceError(f"{where}: an empty choice list leaves nothing to search.")
        return CategoricalDomain(tuple(override))

    def check(self, where: str, value: Any) -> None:
        if value not in self.choices:
            raise SearchSpaceError(f"{where}: {value!r} is not one of {list(self.choices)}.")


@dataclass(frozen=True)
class Fixed:
    value: Any

    def narrow(self, where: str, override: Any) -> Domain:
        self.check(where, override)
        return self

    def check(self, where: str, value: Any) -> None:
        if value != self.value:
            raise SearchSpaceError(f"{where}: this parameter is fixed at {self.value!r}.")


@dataclass(frozen=True)
class Conditional:
    """``inner`` is only sampled when the earlier parameter ``param`` takes one of ``values``
    (Optuna's define-by-run conditional space: e.g. ``l1_ratio`` only for elastic net)."""

    inner: Domain
    param: str
    values: tuple[Any, ...]

    def narrow(self, where: str, override: Any) -> Domain:
        return Conditional(self.inner.narrow(where, override), self.param, self.values)

    def check(self, where: str, value: Any) -> None:
        self.inner.check(where, value)

    def active(self, chosen: dict[str, Any]) -> bool:
        return chosen.get(self.param) in self.values


Domain = FloatDomain | IntDomain | CategoricalDomain | Fixed | Conditional


def _as_float(where: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise SearchSpaceError(f"{where}: expected a number, but got {value!r}.") from None
    if math.isnan(out):
        raise SearchSpaceError(f"{where}: NaN is not a valid bound.")
    return out


def clip_to(domain: Domain, value: Any) -> Any:
    """The nearest legal value: used to fit a component's default into a narrowed space."""
    if isinstance(domain, Conditional):
        return clip_to(domain.inner, value)
    if isinstance(domain, Fixed):
        return domain.value
    if isinstance(domain, CategoricalDomain):
        return value if value in domain.choices else domain.choices[0]
    lo, hi = domain.low, domain.high
    return type(lo)(min(max(value, lo), hi))
