"""Session fixtures of the robustness corpus: once per session a real model of each modality,
trained by the real CLI on tiny data, so `predict` cases meet real bundles."""

from __future__ import annotations

from pathlib import Path

import pytest
from robustness_kit import (
    AUDIO_SPACE,
    IMAGE_SPACE,
    SMOKE,
    TEXT_SPACE,
    audio_folder,
    image_folder,
    iris_df,
    reviews_df,
    write_csv,
)


def _train(tmp: Path, data: Path, space: Path, *extra: str) -> dict[str, Path]:
    from automl.cli import main

    out = tmp / "runs"
    code = main(
        [
            "search",
            "--data",
            str(data),
            "--budget",
            "60s",
            "--space",
            str(space),
            "--output",
            str(out),
            "--trials",
            "1",
            "--jobs",
            "1",
            "-q",
            *extra,
        ]
    )
    assert code == 0, f"training the session model on {data} failed (exit {code})"
    model = next(out.glob("*/model/bundle.json")).parent
    return {"data": data, "out": out, "run_dir": model.parent, "model": model}


@pytest.fixture(scope="session")
def iris_model(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("iris_model")
    data = write_csv(iris_df(), tmp / "iris.csv")
    return _train(tmp, data, SMOKE, "--label", "species")


@pytest.fixture(scope="session")
def text_model(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("text_model")
    data = write_csv(reviews_df(), tmp / "reviews.csv")
    return _train(tmp, data, TEXT_SPACE, "--label", "sentiment", "--text", "review")


@pytest.fixture(scope="session")
def image_model(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("image_model")
    return _train(tmp, image_folder(tmp / "photos"), IMAGE_SPACE)


@pytest.fixture(scope="session")
def audio_model(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("audio_model")
    return _train(tmp, audio_folder(tmp / "clips"), AUDIO_SPACE)
