"""Find the model a user means: a model folder, a search's study or output folder, its
``bundle.json``, or an MLflow model URI (``runs:/<run>/model``, ``models:/<name>/<version>``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from automl.exceptions import ModelError, first_line
from automl.logger import log

MLFLOW_SCHEMES = ("runs:/", "models:/", "mlflow-artifacts:/")


class SeveralModels(ModelError):
    """An output folder holds the models of several studies: the caller must pick one."""

    def __init__(self, folder: Path, choices: list[Path]) -> None:
        self.choices = choices
        names = ", ".join(str(c) for c in choices)
        super().__init__(
            f"{folder} holds the models of {len(choices)} searches: {names}. Pass one of them to --model."
        )


def is_mlflow_uri(model: str) -> bool:
    return str(model).startswith(MLFLOW_SCHEMES)


def locate_model(model: str | Path, tracking_uri: str | None = None) -> Path:
    """The model folder (holding bundle.json) that ``model`` names."""
    if is_mlflow_uri(str(model)):
        return _download(str(model), tracking_uri)
    path = Path(model)
    if not path.exists():
        raise ModelError(
            f"--model {path} does not exist. Pass the model folder of a search "
            "(automl-runs/<study>/model), its study or output folder, or an MLflow "
            "model URI such as runs:/<run id>/model."
        )
    if path.is_file() and path.name == "bundle.json":
        return path.parent
    if (path / "bundle.json").is_file():
        return path
    if (path / "model" / "bundle.json").is_file():  # a study folder
        return path / "model"
    downloaded = sorted(path.glob("artifacts/*/bundle.json"))  # a downloaded MLflow model
    if downloaded:
        return downloaded[0].parent
    found = sorted(p.parent for p in path.glob("*/model/bundle.json"))
    if len(found) == 1:  # an output folder with one search
        log.info("Using the model of the only search in %s: %s", path, found[0])
        return found[0]
    if found:
        raise SeveralModels(path, found)
    raise ModelError(
        f"{path} holds no automl model (no bundle.json in it, in model/, or in a study "
        "folder below it). Pass the folder `automl search` wrote, e.g. automl-runs/<study>/model."
    )


def _download(uri: str, tracking_uri: str | None) -> Path:
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    dest = Path(tempfile.mkdtemp(prefix="automl-model-"))
    try:
        source = _registered_source(uri, tracking_uri) if uri.startswith("models:/") else uri
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=str(dest), tracking_uri=tracking_uri
            )
        )
    except Exception as e:
        where = (
            f" at {tracking_uri}" if tracking_uri else " (no --tracking-uri given: MLflow's default store)"
        )
        raise ModelError(
            f"Cannot fetch the MLflow model {uri}{where}: {first_line(e, 300)}. "
            "Check the URI and pass the tracking server with --tracking-uri."
        ) from None
    bundles = sorted(local.glob("artifacts/*/bundle.json"))
    if not bundles:
        raise ModelError(f"The MLflow model {uri} is not an automl model (no artifacts/*/bundle.json in it).")
    return bundles[0].parent


def _registered_source(uri: str, tracking_uri: str | None) -> str:
    """``models:/<name>/<version>`` or ``models:/<name>@<alias>`` -> the run artifact it was
    registered from, looked up in the registry of ``tracking_uri`` (not a global default)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    ref = uri[len("models:/") :]
    if "@" in ref:
        name, alias = ref.split("@", 1)
        return str(client.get_model_version_by_alias(name, alias).source)
    name, _, version = ref.rpartition("/")
    if not name or not version:
        raise ValueError(f"expected models:/<name>/<version> or models:/<name>@<alias>, got {uri}")
    if version == "latest":
        versions = client.search_model_versions(f"name='{name}'")
        version = str(max(int(v.version) for v in versions)) if versions else version
    return str(client.get_model_version(name, version).source)
