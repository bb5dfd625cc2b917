"""Refit the winning spec on all labelled data and save it as a bundle."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from automl.components.base import BuildContext
from automl.components.runtime import bind_runtime
from automl.export.bundle import save_bundle
from automl.logger import log
from automl.pipeline.build import build_pipeline
from automl.pipeline.calibration import CalibratedClassifier
from automl.pipeline.ensemble import EnsembleClassifier
from automl.space.spec import PipelineSpec


def refit_and_save(
    specs: list[PipelineSpec],
    weights: list[float],
    X: Any,
    y: np.ndarray,
    ctx: BuildContext,
    model_dir: Path,
    meta: dict[str, Any],
    calibrator: Any = None,
) -> tuple[Path, float]:
    """Refit one spec, or a weighted ensemble of specs, on all labelled data and save it;
    ``calibrator`` (learned out of fold) maps its probabilities."""
    t0 = time.perf_counter()
    if len(specs) == 1:
        log.info("Refitting the chosen pipeline on all %d labelled examples: %s", len(y), specs[0].describe())
        model = build_pipeline(specs[0], ctx)
    else:
        log.info("Refitting an ensemble of %d pipelines on all %d labelled examples", len(specs), len(y))
        # The ensemble refits clones of its members under its own runtime: without it they
        # would lose the unlabelled pool (an SSL or pseudo-labelled member could not refit).
        model = bind_runtime(
            EnsembleClassifier([build_pipeline(s, ctx) for s in specs], list(weights)), ctx.runtime
        )
    if calibrator is not None:
        model = bind_runtime(CalibratedClassifier(model, calibrator), ctx.runtime)
    model.fit(X, y)
    seconds = time.perf_counter() - t0
    save_bundle(
        model_dir,
        model,
        {
            **meta,
            "spec": specs[0].to_dict(),
            "refit_seconds": seconds,
            "ensemble": [{"weight": w, "spec": s.to_dict()} for s, w in zip(specs, weights)],
        },
    )
    log.info("Saved the model to %s (refit took %.1fs)", model_dir, seconds)
    return model_dir, seconds
