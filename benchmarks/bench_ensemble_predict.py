"""What sharing embeddings between ensemble members saves at prediction time. For a saved model
(a search's model folder), `Predictor.predict_proba` on ``--data`` is timed as it runs (members
that read the same featuriser configuration share its vectors, `shared_views`) and with each
member computing its own (the pipeline called directly), best of ``--repeats``, with no cache
folder either way; the two outputs must be identical.

    python benchmarks/bench_ensemble_predict.py MODEL_DIR --data PATH [--limit 300] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def members_of(pipeline) -> list:
    from automl.pipeline.calibration import CalibratedClassifier
    from automl.pipeline.ensemble import EnsembleClassifier

    while isinstance(pipeline, CalibratedClassifier):
        pipeline = pipeline.base_
    return list(pipeline.members_) if isinstance(pipeline, EnsembleClassifier) else [pipeline]


def featuriser_config(member) -> str:
    first = member.steps[0][1] if hasattr(member, "steps") else None
    config = getattr(first, "_config", None)
    return repr(sorted(config().items())) if config else f"own ({type(member).__name__})"


def best_of(fn, repeats: int) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data", required=True)
    parser.add_argument("--limit", type=int, default=300, help="predict the first N items")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    from automl.components.runtime import Runtime, bind_runtime
    from automl.pipeline.proba import aligned_proba
    from automl.predict import Predictor

    predictor = Predictor.load(args.model)
    bind_runtime(predictor.bundle.pipeline, Runtime(n_jobs=args.threads))  # no cache folder
    X = predictor.read_inputs(args.data)[: args.limit]
    members = members_of(predictor.bundle.pipeline)
    configs = [featuriser_config(m) for m in members]
    k = len(predictor.classes)
    own, plain = best_of(lambda: aligned_proba(predictor.bundle.pipeline, X, k), args.repeats)
    shared, out = best_of(lambda: predictor.predict_proba(X), args.repeats)
    print(
        f"{len(members)} members, {len(set(configs))} distinct featurisers; {len(X)} items, {args.threads} thread(s)"
    )
    print("| each member its own vectors | members share vectors | speed-up | outputs |")
    print("|---|---|---|---|")
    same = "identical" if np.array_equal(plain, out) else f"max diff {np.abs(plain - out).max():.2e}"
    print(f"| {own:.1f} s | {shared:.1f} s | {own / shared:.2f}x | {same} |")


if __name__ == "__main__":
    main()
