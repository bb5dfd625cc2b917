"""Audio benchmark on fsdd-few (8 labelled clips per spoken digit): `automl search` then
`automl predict` on the held-out test/ split, next to MFCC statistics + logistic regression.

    python benchmarks/bench_audio.py --budget 10m
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import folder_labels, search_and_predict  # benchmarks/ is on sys.path when run as a script

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fsdd-few"


def files(split: str) -> tuple[list[str], np.ndarray]:
    paths = sorted((DATA / split).glob("*/*.wav"))
    return [str(p) for p in paths], np.array([p.parent.name for p in paths])


def mfcc_logreg() -> float:
    """The textbook baseline: 20 MFCCs at the native rate, mean and std over time."""
    import librosa
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def feats(paths):
        out = []
        for p in paths:
            y, sr = librosa.load(p, sr=None)
            m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
            out.append(np.concatenate([m.mean(1), m.std(1)]))
        return np.array(out)

    tr, ytr = files("train")
    te, yte = files("test")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(feats(tr), ytr)
    return float((model.predict(feats(te)) == yte).mean())


def automl(budget: str, work: Path) -> float:
    pred = search_and_predict(DATA / "train", DATA / "test", budget, work)
    return float((pred["prediction"].astype(str) == folder_labels(pred)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="10m")
    args = parser.parse_args()
    t0 = time.perf_counter()
    base = mfcc_logreg()
    base_t = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        acc = automl(args.budget, Path(tmp))
        auto_t = time.perf_counter() - t0
    print(f"\nfsdd-few test accuracy (300 clips), automl budget {args.budget}")
    print(f"{'method':28} {'accuracy':>8} {'wall time':>10}")
    print(f"{'automl search + predict':28} {acc:8.3f} {auto_t:9.0f}s")
    print(f"{'MFCC stats + logreg':28} {base:8.3f} {base_t:9.1f}s")


if __name__ == "__main__":
    main()
