"""The end of a search: what ships (a trial or an ensemble, chosen by a cross-validated
rule), its calibration, and the honest estimate the search reports for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from automl.data.splits import FoldPlan, fold_std
from automl.logger import log
from automl.pipeline.calibration import CalibrationChoice, choose_calibration
from automl.pipeline.metrics import MetricInfo
from automl.search.budget import REFIT_SAFETY, Deadline
from automl.search.selection import GATE, SINGLE_RULES, Selection, select
from automl.search.study import best_first, value_of
from automl.space.spec import PipelineSpec


@dataclass(frozen=True)
class ShipPlan:
    specs: tuple[PipelineSpec, ...]
    weights: tuple[float, ...]
    members: tuple[int, ...]  # trial numbers
    rule: str  # the selection rule that chose it ("best" when nothing could be estimated)
    estimate: dict[str, float]  # mean, std, low, high: the shipped model's CV estimate
    estimate_kind: str  # how it was estimated
    selection: Selection | None
    calibration: CalibrationChoice | None
    best_trial: int
    best_cv: float  # the best single trial's own CV mean (optimistic: the max of many)
    best_cv_std: float

    @classmethod
    def single(cls, trial: optuna.trial.FrozenTrial, rule: str = "fallback") -> ShipPlan:
        """One trial as it is: its own CV mean is the (optimistic) estimate."""
        scores = trial.user_attrs.get("fold_scores") or [value_of(trial)]
        std = fold_std(scores) or 0.0
        return cls(
            (PipelineSpec.from_dict(trial.user_attrs["spec"]),),
            (1.0,),
            (trial.number,),
            rule,
            {"mean": value_of(trial), "std": std},
            "the trial's CV mean, not corrected for selection",
            None,
            None,
            trial.number,
            value_of(trial),
            std,
        )

    def meta_update(self) -> dict[str, Any]:
        """What the model's bundle.json says about this plan."""
        return {
            "cv_score": self.estimate["mean"],
            "cv_estimate": self.estimate,
            "cv_estimate_kind": self.estimate_kind,
            "selection_rule": self.rule,
            "calibration": self.calibration.to_dict() if self.calibration else None,
        }

    def describe(self) -> str:
        if len(self.specs) == 1:
            return self.specs[0].describe()
        return " + ".join(f"{w:.2f} x [{s.describe()}]" for s, w in zip(self.specs, self.weights))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "members": list(self.members),
            "weights": list(self.weights),
            "pipelines": [s.to_dict() for s in self.specs],
            "estimate": self.estimate,
            "estimate_kind": self.estimate_kind,
            "best_trial": self.best_trial,
            "best_trial_cv": self.best_cv,
            "best_trial_cv_std": self.best_cv_std,
        }
        if self.selection is not None:
            out["rules"] = [r.to_dict() for r in self.selection.rules]
            out["gate"] = GATE
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_dict()
        return out

    def sentence(self, metric: str) -> str:
        e = self.estimate
        spread = (
            f" (range {e['low']:.3f}-{e['high']:.3f}, {self.estimate_kind})"
            if "low" in e
            else f" ({self.estimate_kind})"
        )
        return f"estimated {metric} {e['mean']:.3f}{spread}"


def plan_shipment(
    study: optuna.Study, y: np.ndarray, plan: FoldPlan, metric: MetricInfo, deadline: Deadline, seed: int = 0
) -> ShipPlan:
    trials = study.get_trials(deepcopy=False)
    ranked = best_first(trials, metric.direction == "maximize")
    best = ranked[0]
    best_scores = best.user_attrs.get("fold_scores") or [value_of(best)]
    best_cv_std = fold_std(best_scores) or 0.0
    by_number = {t.number: t for t in trials}
    selection = select(trials, y, plan, metric, seed=seed)
    if selection is None:
        log.info(
            "Too few trials kept out-of-fold predictions to cross-validate the choice; "
            "shipping the best trial, whose CV score is optimistic."
        )
        return ShipPlan(
            (PipelineSpec.from_dict(best.user_attrs["spec"]),),
            (1.0,),
            (best.number,),
            "best",
            {"mean": value_of(best), "std": best_cv_std},
            "the best trial's CV mean, not corrected for selection",
            None,
            None,
            best.number,
            value_of(best),
            best_cv_std,
        )
    if selection.is_ensemble and not _refit_fits(selection, by_number, deadline):
        log.info(
            "The ensemble would refit %d pipelines in more than the %.0fs left; shipping "
            "the best single-model rule instead.",
            len(selection.members),
            deadline.total_left(),
        )
        selection = select(trials, y, plan, metric, rules=SINGLE_RULES, seed=seed)
        assert selection is not None
    est = selection.estimate
    assert est is not None and selection.oof is not None
    calibration = choose_calibration(y, selection.oof, seed=seed, keeps_argmax=metric.name != "log_loss")
    specs = tuple(PipelineSpec.from_dict(by_number[n].user_attrs["spec"]) for n in selection.members)
    return ShipPlan(
        specs,
        selection.weights,
        selection.members,
        selection.rule,
        {"mean": est.mean, "std": est.std, "low": est.low, "high": est.high},
        "bootstrap bias-corrected CV of the choice"
        + _rescored(selection)
        + (f", {-est.luck:+.3f} for the luck of its first CV repeat" if est.luck else ""),
        selection,
        calibration,
        best.number,
        value_of(best),
        best_cv_std,
    )


def fallback_trials(
    study: optuna.Study, metric: MetricInfo, shipped: ShipPlan
) -> list[optuna.trial.FrozenTrial]:
    """The next-best single trials, for when the shipped plan cannot be refitted."""
    ranked = best_first(study.get_trials(deepcopy=False), metric.direction == "maximize")
    return [t for t in ranked if (t.number,) != shipped.members][:3]


def _refit_fits(
    selection: Selection, trials: dict[int, optuna.trial.FrozenTrial], deadline: Deadline
) -> bool:
    cost = sum(float(trials[n].user_attrs.get("fit_seconds", 0.0)) for n in selection.members)
    return cost * REFIT_SAFETY <= deadline.total_left()


def _rescored(selection: Selection) -> str:
    """Which partition the shipped model's estimate was scored on, when not only the first."""
    n, members = selection.rescored, len(selection.members)
    if n == 0:
        return ""
    if n == members:
        return ", chosen on the first CV repeat and scored on the second"
    return f", chosen on the first CV repeat and scored on the second for {n} of its {members} members"
