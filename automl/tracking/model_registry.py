"""The shipped model as a new version in the MLflow Model Registry, ready for
``mlflow models serve -m models:/<name>/<version> --env-manager local``."""

from __future__ import annotations

import time
from typing import Any

from automl.logger import log

MODEL_ARTIFACT = "model"  # where the search logs its pyfunc model on the parent run


def register_model(tracking_uri: str, run_id: str, name: str, tags: dict[str, Any]) -> str:
    """Register ``runs:/<run_id>/model`` as a new version of ``name``; returns the version."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        client.create_registered_model(name, description="Models shipped by automl searches.")
    except MlflowException as e:
        if "already exists" not in str(e).lower() and "RESOURCE_ALREADY_EXISTS" not in str(e):
            raise
    source = f"runs:/{run_id}/{MODEL_ARTIFACT}"
    version = client.create_model_version(
        name, source, run_id=run_id, tags={k: str(v)[:5000] for k, v in tags.items()}
    )
    # A new version is PENDING_REGISTRATION for a moment on some stores; serve only READY ones.
    for _ in range(50):
        if client.get_model_version(name, version.version).status == "READY":
            break
        time.sleep(0.1)
    log.info(
        "Registered the shipped model as %s version %s (models:/%s/%s).",
        name,
        version.version,
        name,
        version.version,
    )
    return str(version.version)
