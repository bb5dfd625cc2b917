"""The numbers behind the report: one row per trial, summaries per learner and per strategy,
and the best trial's out-of-fold quality per class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import optuna
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from automl.components.base import FEATURES, LEARNERS, SEMI
from automl.search.study import FINISHED
from automl.space.spec import PipelineSpec


class ReportGap(Exception):
    """A section this search cannot fill; the message says why, and the page shows it."""


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # COMPLETE, PRUNED or FAIL
    value: float | None
    fold_scores: tuple[float, ...]
    seconds: float  # wall-clock of the whole trial, all folds
    learner: str
    strategy: str
    pipeline: str
    finished_at: float = 0.0  # seconds from the study's first trial start to this one's end


@dataclass(frozen=True)
class GroupStats:
    name: str
    n_trials: int
    n_complete: int
    best: float | None
    mean: float | None
    seconds: float


@dataclass(frozen=True)
class ClassQuality:
    trial: int
    classes: list[str]
    confusion: np.ndarray  # rows: true class, columns: predicted class
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray


def strategy_of(spec: PipelineSpec) -> str:
    """classical, transfer, finetune or semi: what kind of bet the trial made. A classical
    learner on frozen pretrained embeddings is transfer learning."""
    if spec.semi is not None:
        return SEMI.get(spec.semi.name).strategy if spec.semi.name in SEMI else "semi"
    learner = LEARNERS.get(spec.learner.name).strategy if spec.learner.name in LEARNERS else "classical"
    if learner == "classical" and spec.features is not None and spec.features.name in FEATURES:
        return FEATURES.get(spec.features.name).strategy
    return learner


def trial_rows(study: optuna.Study) -> list[TrialRow]:
    rows = []
    starts = [t.datetime_start for t in study.get_trials(deepcopy=False) if t.datetime_start]
    origin = min(starts) if starts else None
    for t in study.get_trials(deepcopy=False, states=FINISHED):
        if "spec" not in t.user_attrs:  # failed before a pipeline was sampled
            continue
        spec = PipelineSpec.from_dict(t.user_attrs["spec"])
        took = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if (t.datetime_complete and t.datetime_start)
            else 0.0
        )
        value = t.value if t.state == optuna.trial.TrialState.COMPLETE else None
        rows.append(
            TrialRow(
                t.number,
                t.state.name,
                value,
                tuple(t.user_attrs.get("fold_scores", ())),
                took,
                spec.learner.name,
                strategy_of(spec),
                spec.describe(),
                (t.datetime_complete - origin).total_seconds() if (origin and t.datetime_complete) else 0.0,
            )
        )
    return rows


def ranked(rows: list[TrialRow], maximize: bool) -> list[TrialRow]:
    """Complete trials, best first."""
    done = [r for r in rows if r.value is not None]
    return sorted(done, key=lambda r: r.value or 0.0, reverse=maximize)


def group_stats(rows: list[TrialRow], key: str, maximize: bool) -> list[GroupStats]:
    """Per learner (key="learner") or per strategy (key="strategy"), best group first."""
    groups: dict[str, list[TrialRow]] = {}
    for r in rows:
        groups.setdefault(getattr(r, key), []).append(r)
    out = []
    for name, members in groups.items():
        values = [r.value for r in members if r.value is not None]
        best = (max(values) if maximize else min(values)) if values else None
        out.append(
            GroupStats(
                name,
                len(members),
                len(values),
                best,
                float(np.mean(values)) if values else None,
                sum(r.seconds for r in members),
            )
        )
    worst = -np.inf if maximize else np.inf
    out.sort(key=lambda g: worst if g.best is None else g.best, reverse=maximize)
    return out


def class_quality(study: optuna.Study, trial: int, y: np.ndarray | None, classes: list[str]) -> ClassQuality:
    """Confusion matrix and per-class precision/recall/F1 of one trial's out-of-fold
    predictions: every labelled row predicted by a model that did not train on it."""
    if y is None:
        raise ReportGap(
            "The labels were not saved with this search (labels.json is written "
            "only for data small enough to keep out-of-fold predictions)."
        )
    t = study.trials[trial]
    if "oof" not in t.user_attrs:
        raise ReportGap(
            f"Trial {trial} kept no out-of-fold predictions (the data is too large "
            "to store them in the study)."
        )
    proba = np.asarray(t.user_attrs["oof"], dtype=float)
    if proba.shape != (len(y), len(classes)):
        raise ReportGap(
            f"Trial {trial}'s out-of-fold predictions have shape {proba.shape}, but "
            f"the labels give {(len(y), len(classes))}; labels.json is from another "
            "search. Re-run the search to rewrite it."
        )
    pred = proba.argmax(1)
    labels = np.arange(len(classes))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    return ClassQuality(trial, list(classes), confusion_matrix(y, pred, labels=labels), p, r, f, s)
