from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from automl.exceptions import ModelError
from automl.export.bundle import load_bundle, save_bundle
from automl.predict import Predictor


def test_bundle_round_trip(tmp_path: Path):
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    save_bundle(
        tmp_path / "model",
        model,
        {"modality": "tabular", "classes": ["no", "yes"], "schema": {"columns": ["x"]}},
    )
    pred = Predictor.load(tmp_path / "model")
    import pandas as pd

    out = pred.predict_frame(pd.DataFrame({"x": [0.0, 3.0], "extra": [1, 1]}))
    assert out["prediction"].tolist() == ["no", "yes"]
    assert list(out.columns) == ["prediction", "proba_no", "proba_yes"]
    assert np.allclose(out[["proba_no", "proba_yes"]].sum(axis=1), 1)
    assert not list(tmp_path.glob("model/*.tmp"))


def test_load_bundle_points_at_model_folder(tmp_path: Path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "bundle.json").write_text("{}")
    with pytest.raises(ModelError, match="Did you mean .*model"):
        load_bundle(tmp_path)
