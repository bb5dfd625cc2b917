"""`automl suggest`: which unlabelled items to label next, ranked with the shipped model's
probabilities and its embeddings of the items (``automl.labelling.suggest`` holds the
strategies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.components.features.cached import shared_views
from automl.data.dataset import item_keys
from automl.exceptions import DataError
from automl.labelling.class_mix import ClassMix, estimate_class_mix
from automl.labelling.suggest import rank_pool
from automl.logger import log
from automl.pipeline.build import FeaturePipeline
from automl.pipeline.calibration import CalibratedClassifier
from automl.pipeline.ensemble import EnsembleClassifier
from automl.predict import Predictor

# Chosen on train splits only, by benchmarks/bench_suggest_strategies.py (a proxy probe on
# frozen embeddings; 60 seed/pool/evaluation splits of each of cifar10-few, sst2-few, trec-few
# and fsdd-few's train): the best mean rank over the four (3.8 of 8; kcenter and random 4.0,
# typiclust 4.5). No strategy's gain over random exceeded two standard errors on any of them,
# so this is a weak preference; the test-split benchmark (bench_label_efficiency.py) only
# reports it afterwards.
DEFAULT_STRATEGY = "balanced_margin"
SVD_DIMS = 128  # sparse features (TF-IDF) are projected to this many dimensions for distances


# One prediction's embeddings serve the diversity step too (the pool is embedded once).
@shared_views()
def suggest(
    model: str | Path,
    pool: str | Path,
    n: int = 50,
    strategy: str = DEFAULT_STRATEGY,
    labelled: str | Path | None = None,
    device: str | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """The ``n`` pool items to label next, best first: ``item``, ``score``, ``predicted``,
    ``confidence``, ``margin`` and ``why``. ``labelled`` (default: the data the model was
    trained on, when it is still where the search read it) keeps already-labelled items and
    their near-duplicates out, and lets diversity count from them."""
    predictor = Predictor.load(model, device=device)
    X = predictor.read_inputs(pool, "--pool")
    proba = predictor.predict_proba(X)
    mix = pool_class_mix(predictor, proba)
    if mix is not None:
        log.info("%s.", mix.sentence([str(c) for c in predictor.classes]))
    embeddings = model_embeddings(predictor, X, proba)
    X_lab, counts = _labelled(predictor, labelled)
    lab_emb = None if X_lab is None else model_embeddings(predictor, X_lab, predictor.predict_proba(X_lab))
    picks = rank_pool(
        proba,
        embeddings,
        lab_emb,
        n,
        strategy=strategy,
        class_counts=counts,
        seed=seed,
        keys=list(item_keys(X)),
        labelled_keys=list(item_keys(X_lab)) if X_lab is not None else (),
        classes=[str(c) for c in predictor.classes],
    )
    items = _items(X, predictor.modality)
    frame = pd.DataFrame(
        {
            "item": [items[p.index] for p in picks],
            "score": [round(p.score, 5) for p in picks],
            "predicted": [str(predictor.classes[p.predicted]) for p in picks],
            "confidence": [round(p.confidence, 4) for p in picks],
            "margin": [round(p.margin, 4) for p in picks],
            "why": [p.why for p in picks],
        }
    )
    if predictor.modality == "text":  # the row says where it is; the text says what it is
        frame.insert(1, "text", [str(X[p.index]) for p in picks])
    return frame


def pool_class_mix(predictor: Predictor, proba: np.ndarray) -> ClassMix | None:
    """The pool's estimated class mix, when the model folder holds its out-of-fold confusion
    (models exported before it did, or a fallback refit, do not)."""
    confusion = predictor.bundle.meta.get("oof_confusion")
    if confusion is None or len(proba) == 0:
        return None
    try:
        return estimate_class_mix(np.asarray(confusion), proba.argmax(axis=1))
    except DataError as e:
        log.info("The pool's class mix is not estimated: %s", e)
        return None


def model_embeddings(predictor: Predictor, X: Any, proba: np.ndarray) -> np.ndarray:
    """What the shipped model sees of each item: its featuriser's output (of the heaviest
    ensemble member), or its probabilities when it learns from raw inputs (a fine-tuner)."""
    est: Any = predictor.bundle.pipeline
    while True:
        if isinstance(est, CalibratedClassifier):
            est = est.base_
        elif isinstance(est, EnsembleClassifier):
            est = est.members_[int(np.argmax(est.weights or [1.0]))]
        elif hasattr(est, "base_") and not isinstance(est, FeaturePipeline):  # pseudo-labelling
            est = est.base_
        elif isinstance(est, FeaturePipeline):
            features = est.steps[0][1].transform(X)
            return _dense(features)
        else:
            return np.asarray(proba, dtype=float)


def _dense(features: Any) -> np.ndarray:
    if hasattr(features, "toarray"):
        from sklearn.decomposition import TruncatedSVD

        k = min(SVD_DIMS, features.shape[1] - 1, features.shape[0] - 1)
        return TruncatedSVD(k, random_state=0).fit_transform(features) if k >= 2 else features.toarray()
    return np.asarray(features, dtype=float)


def _labelled(predictor: Predictor, labelled: str | Path | None) -> tuple[Any, np.ndarray | None]:
    """The labelled items (or None) and the number of labels per class."""
    from automl.data.load import load_dataset

    meta = predictor.bundle.meta
    counts_by_name = meta.get("profile", {}).get("class_counts", {})
    counts = np.array([counts_by_name.get(str(c), 0) for c in predictor.classes], dtype=float)
    path = Path(labelled) if labelled else (Path(meta["data"]) if meta.get("data") else None)
    if path is None or not path.exists():
        if labelled:
            raise DataError(f"--labelled {labelled} does not exist. Pass the data the model was trained on.")
        log.warning(
            "The model's training data (%s) is not here: suggestions cannot skip items that are "
            "already labelled or count diversity from them. Pass it with --labelled.",
            meta.get("data"),
        )
        return None, counts
    ds = load_dataset(path, label=meta.get("label"), text_column=meta.get("text_column"))
    return ds.X, counts


def _items(X: Any, modality: str) -> list[str]:
    if modality in ("tabular", "text"):  # its line in the pool file (the header is line 1)
        return [f"row {i + 2}" for i in range(len(X))]
    return [str(x) for x in X]
