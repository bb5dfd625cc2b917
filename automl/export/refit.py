"""Refit the winning spec on all labelled data and save it as a bundle."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from automl.components.base import BuildContext
from automl.export.bundle import save_bundle
from automl.logger import log
from automl.search.build import build_pipeline
from automl.space.spec import PipelineSpec


def refit_and_save(spec: PipelineSpec, X: Any, y: np.ndarray, ctx: BuildContext,
                   model_dir: Path, meta: dict[str, Any]) -> tuple[Path, float]:
    t0 = time.perf_counter()
    log.info("Refitting the best pipeline on all %d labelled examples: %s", len(y), spec.describe())
    pipeline = build_pipeline(spec, ctx).fit(X, y)
    seconds = time.perf_counter() - t0
    save_bundle(model_dir, pipeline, {**meta, "spec": spec.to_dict(), "refit_seconds": seconds})
    log.info("Saved the model to %s (refit took %.1fs)", model_dir, seconds)
    return model_dir, seconds
