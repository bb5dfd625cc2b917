from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from automl.exceptions import ModelError
from automl.export.bundle import save_bundle
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


def test_the_model_is_found_from_what_the_user_has(tmp_path: Path):
    """--model takes the model folder, its bundle.json, the study folder, or an output folder
    with one search; with several searches it lists them."""
    from automl.export.locate import SeveralModels, locate_model

    model = tmp_path / "out" / "iris" / "model"
    model.mkdir(parents=True)
    (model / "bundle.json").write_text("{}")
    for given in (model, model / "bundle.json", model.parent, tmp_path / "out"):
        assert locate_model(given) == model
    other = tmp_path / "out" / "wine" / "model"
    other.mkdir(parents=True)
    (other / "bundle.json").write_text("{}")
    with pytest.raises(SeveralModels, match="iris.*wine") as e:
        locate_model(tmp_path / "out")
    assert e.value.choices == [model, other]
    with pytest.raises(ModelError, match="does not exist"):
        locate_model(tmp_path / "nowhere")
    with pytest.raises(ModelError, match="no automl model"):
        locate_model(tmp_path)


class Moves:
    """Stands for a fitted torch module: records where it is sent."""

    devices: list = []

    def to(self, device):
        Moves.devices.append(device)
        return self


def test_torch_parts_are_saved_on_the_cpu_and_follow_the_chosen_device(tmp_path, monkeypatch):
    """A model fitted on a GPU host must load on a CPU-only one: save_bundle moves every fitted
    module to the CPU before pickling, and Predictor.load moves it to the device asked for."""
    torch = pytest.importorskip("torch")

    from automl.components.learners.classical import XGBoostClassifier
    from automl.components.runtime import Runtime
    from automl.export.bundle import save_bundle
    from automl.predict import Predictor

    monkeypatch.setattr(torch.nn, "Module", Moves)  # what set_runtime looks for
    learner = XGBoostClassifier()
    learner.net_ = Moves()
    learner.set_runtime(Runtime(device="cuda:0"))  # as on the GPU host
    meta = {"classes": [0, 1], "modality": "tabular", "schema": {"columns": []}}
    save_bundle(tmp_path / "model", learner, meta)
    assert Moves.devices[-1] == "cpu"
    loaded = Predictor.load(tmp_path / "model", device="cuda:1").bundle.pipeline
    assert Moves.devices[-1] == "cuda:1" and loaded.runtime.device == "cuda:1"
    import joblib

    assert "_runtime" not in vars(joblib.load(tmp_path / "model" / "pipeline.joblib"))  # never pickled
