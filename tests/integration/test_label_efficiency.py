"""Which items to label next and what more labels would buy, on a real (small) search."""

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from automl.cli import main
from automl.labelling.pool import suggest

SPACE = """# purpose: test  # cost: ms
learners: {logreg: {}}
features: {tabular: {}}
start: [{learner: logreg, features: tabular}]
"""


def test_suggestions_are_new_distinct_items_with_reasons(tmp_path: Path, wine_csv, caplog, monkeypatch):
    df = pd.read_csv(wine_csv)
    train = df.sample(60, random_state=0)
    rest = df.drop(train.index).drop(columns="target")
    # The pool repeats 10 labelled rows and holds every other row twice.
    pool = pd.concat([train.drop(columns="target").head(10), rest, rest], ignore_index=True)
    train.to_csv(tmp_path / "train.csv", index=False)
    pool.to_csv(tmp_path / "pool.csv", index=False)
    (tmp_path / "space.yaml").write_text(SPACE)
    assert (
        main(
            [
                "search",
                "--data",
                str(tmp_path / "train.csv"),
                "--budget",
                "1m",
                "--trials",
                "2",
                "--space",
                str(tmp_path / "space.yaml"),
                "--output",
                str(tmp_path / "runs"),
                "-q",
            ]
        )
        == 0
    )
    monkeypatch.setattr(logging.getLogger("automl"), "propagate", True)  # the CLI run turned it off
    with caplog.at_level(logging.INFO, logger="automl"):
        picks = suggest(tmp_path / "runs", tmp_path / "pool.csv", n=30)
    # The model folder carries its out-of-fold confusion, so suggest can say the pool's mix.
    bundle = json.loads(next((tmp_path / "runs").glob("*/model/bundle.json")).read_text())
    assert np.asarray(bundle["oof_confusion"]).sum() == 60
    assert "the pool's class mix, estimated" in caplog.text
    rows = [int(item.split()[-1]) - 2 for item in picks["item"]]  # "row N": line N of pool.csv
    assert len(picks) == 30 and len(set(rows)) == 30
    assert not set(rows) & set(range(10))  # never an item that is already labelled
    chosen = pool.iloc[rows]
    assert not chosen.duplicated().any()  # never the same item twice
    assert picks["why"].str.len().min() > 10 and set(picks["predicted"].astype(str)) <= {"0", "1", "2"}


def test_search_writes_a_learning_curve(tmp_path: Path, wine_csv):
    (tmp_path / "space.yaml").write_text(SPACE)
    assert (
        main(
            [
                "search",
                "--data",
                str(wine_csv),
                "--budget",
                "2m",
                "--trials",
                "2",
                "--space",
                str(tmp_path / "space.yaml"),
                "--output",
                str(tmp_path / "runs"),
                "-q",
            ]
        )
        == 0
    )
    curve = json.loads((tmp_path / "runs" / "wine" / "learning_curve.json").read_text())
    assert curve["curves"], curve.get("skipped")
    first = curve["curves"][0]
    assert len(first["sizes"]) == 4 and first["verdict"] in ("flat", "rising", "steep")
    assert "more labels per class the estimate is" in first["sentence"]
    low, point, high = first["forecasts"]["2"][1], first["forecasts"]["2"][0], first["forecasts"]["2"][2]
    assert low <= point <= high
    html = (tmp_path / "runs" / "wine" / "report.html").read_text()
    assert 'id="labels"' in html and "<svg" in html.split('id="labels"')[1]
