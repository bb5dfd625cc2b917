"""Text benchmark: `automl search` then `automl predict` on test.csv, next to baselines
trained on the same train.csv: TF-IDF + logistic regression, frozen MiniLM and mpnet
embeddings + logistic regression (C chosen by inner CV on the training labels), and the
`setfit` package (pip install 'automl[bench]') with the MiniLM and with the mpnet body
(batch 16, 1 epoch, 20 iterations: SetFit's few-shot recipe).

    python benchmarks/bench_text.py --budget 10m --seeds 3 [--datasets sst2-few trec-few]
    python benchmarks/bench_text.py --datasets manpages-few --baselines-only
    python benchmarks/bench_text.py --budget 10m --seeds 3 --no-setfit-mpnet --keep /tmp/text-runs

``manpages-few`` is the long-document set that benchmarks/longdocs/make_manpages.py builds from
Linux manual pages (median ~630 words). Seeds vary the search's --seed and the SetFit seed;
the other baselines are deterministic. Prints mean ± std over seeds and the fit times.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from common import (  # benchmarks/ is on sys.path when run as a script
    search_and_predict,
    setfit_package_fit_predict,
    timed,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
LONG = Path(__file__).resolve().parent / "longdocs"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def folder(name: str) -> Path:
    return LONG / name if (LONG / name / "train.csv").is_file() else DATA / name


def split(name: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    df = pd.read_csv(folder(name) / f"{part}.csv")
    return df["text"].astype(str).to_numpy(), df["label"].astype(str).to_numpy()


def tfidf_logreg(name: str, seed: int) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    (X, y), (Xt, yt) = split(name, "train"), split(name, "test")
    model = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)), LogisticRegression(max_iter=5000)
    ).fit(X, y)
    return float((model.predict(Xt) == yt).mean())


def probe(name: str, encoder: str) -> float:
    """Frozen embeddings + logistic regression with C chosen by inner CV on the labels."""
    from sklearn.linear_model import LogisticRegressionCV

    from automl.components.runtime import Runtime
    from automl.components.text.features import TextEmbedding

    (X, y), (Xt, yt) = split(name, "train"), split(name, "test")
    emb = (
        TextEmbedding(encoder=encoder, max_length=256)
        .set_runtime(Runtime(n_jobs=os.cpu_count() or 1))
        .fit(X, y)
    )
    cv = int(min(5, pd.Series(y).value_counts().min()))
    model = LogisticRegressionCV(Cs=np.logspace(-3, 2, 8), cv=cv, max_iter=5000).fit(emb.transform(X), y)
    return float((model.predict(emb.transform(Xt)) == yt).mean())


def setfit_package(name: str, seed: int, body: str) -> float | None:
    """SetFit's documented few-shot recipe: 20 pair iterations, one epoch, batch 16."""
    try:
        import setfit  # noqa: F401
    except ImportError:
        print("setfit is not installed (pip install 'automl[bench]'); skipping that baseline")
        return None
    (X, y), (Xt, yt) = split(name, "train"), split(name, "test")
    return float((setfit_package_fit_predict(body, seed, X, y, Xt) == yt).mean())


def automl(name: str, budget: str, seed: int, work: Path) -> float:
    src = folder(name)
    pred = search_and_predict(src / "train.csv", src / "test.csv", budget, work, "--seed", str(seed))
    truth = pd.read_csv(src / "test.csv")["label"].astype(str)
    return float((pred["prediction"].astype(str) == truth).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="10m")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--datasets", nargs="+", default=["sst2-few", "trec-few"])
    parser.add_argument("--baselines-only", action="store_true")
    parser.add_argument("--no-setfit-mpnet", action="store_true", help="skip the slowest baseline")
    parser.add_argument("--keep", type=Path, help="keep each search's runs under DIR/<dataset>/<seed>")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    rows: list[tuple[str, str, float | None, float]] = []
    for name in args.datasets:
        runs = [
            ("TF-IDF + logreg", lambda s, name=name: tfidf_logreg(name, s), False),
            ("MiniLM probe (inner-CV C)", lambda s, name=name: probe(name, "minilm"), False),
            ("mpnet probe (inner-CV C)", lambda s, name=name: probe(name, "mpnet"), False),
            ("setfit package, MiniLM", lambda s, name=name: setfit_package(name, s, "minilm"), True),
        ]
        if not args.no_setfit_mpnet:
            runs.append(
                ("setfit package, mpnet", lambda s, name=name: setfit_package(name, s, "mpnet"), True)
            )
        if not args.baselines_only:
            runs.append((f"automl {args.budget} + predict", None, True))
        for method, fn, seeded in runs:
            for seed in range(args.seeds if seeded else 1):
                if fn is None and args.keep:
                    work = args.keep / name / str(seed)
                    work.mkdir(parents=True, exist_ok=True)
                    acc, secs = timed(automl, name, args.budget, seed, work)
                elif fn is None:
                    with tempfile.TemporaryDirectory() as tmp:
                        acc, secs = timed(automl, name, args.budget, seed, Path(tmp))
                else:
                    acc, secs = timed(fn, seed)
                rows.append((name, method, acc, secs))
                print(f"[{name}] {method} seed {seed}: {acc} in {secs:.0f}s", flush=True)
    print(f"\ntest accuracy (mean ± std over seeds where seeded), automl budget {args.budget}")
    print(f"{'dataset':13} {'method':28} {'accuracy':>15} {'mean time':>10}")
    for name in args.datasets:
        for method in dict.fromkeys(m for n, m, _, _ in rows if n == name):
            got = [(a, s) for n, m, a, s in rows if n == name and m == method and a is not None]
            if not got:
                continue
            accs, secs = np.array([a for a, _ in got]), np.mean([s for _, s in got])
            acc = f"{accs.mean():.3f} ± {accs.std():.3f}" if len(accs) > 1 else f"{accs.mean():.3f}"
            print(f"{name:13} {method:28} {acc:>15} {secs:9.0f}s")


if __name__ == "__main__":
    main()
