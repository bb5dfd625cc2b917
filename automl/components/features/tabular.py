"""Tabular preprocessing: impute, scale numbers, one-hot encode categories."""

from __future__ import annotations

from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, QuantileTransformer, StandardScaler

from automl.components.base import BuildContext, ComponentInfo, register
from automl.data.dataset import Modality
from automl.data.profile import DataProfile
from automl.space.domains import CategoricalDomain


def _space(profile: DataProfile) -> dict:
    return {"scaler": CategoricalDomain(("standard", "quantile", "none"))}


def _build(params: dict[str, Any], ctx: BuildContext) -> ColumnTransformer:
    numeric = list(ctx.profile.numeric_columns)
    categorical = list(ctx.profile.categorical_columns)
    scaler = {
        "standard": StandardScaler(),
        # Quantile scaling tames heavy tails. Its quantile count must not exceed the rows a
        # fold trains on, which is at least half the table with 2+ folds.
        "quantile": QuantileTransformer(
            n_quantiles=min(1000, max(10, ctx.profile.n_rows // 2)),
            output_distribution="normal",
            random_state=ctx.seed,
        ),
        "none": "passthrough",
    }[params.get("scaler", "standard")]
    steps = []
    if numeric:
        steps.append(
            ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), scaler), numeric)
        )
    if categorical:
        # Rare levels are pooled so a category seen in one fold only does not become a
        # column that is all zeros elsewhere; unseen ones at predict time are ignored.
        steps.append(
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="<missing>"),
                    OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=2, sparse_output=False),
                ),
                categorical,
            )
        )
    return ColumnTransformer(steps, remainder="drop")


register(
    ComponentInfo(
        name="tabular",
        kind="features",
        summary="median/constant imputation, scaling, one-hot categories",
        modalities=frozenset({Modality.TABULAR}),
        space=_space,
        build=_build,
        defaults=lambda p: {"scaler": "standard"},
        cost=0,
    )
)
