import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# Tests run many small fits side by side: one thread each avoids oversubscribing the cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture
def wine_csv(tmp_path: Path) -> Path:
    from sklearn.datasets import load_wine

    df = load_wine(as_frame=True).frame
    path = tmp_path / "wine.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture
def mixed_csv(tmp_path: Path) -> Path:
    """Breast-cancer rows with a categorical column and missing values, label named 'diagnosis'."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    df = data.frame.iloc[:, :6].copy()
    rng = np.random.default_rng(0)
    df["site"] = rng.choice(["north", "south", "east"], size=len(df))
    df.loc[rng.choice(len(df), 40, replace=False), "mean radius"] = np.nan
    df["diagnosis"] = np.where(data.target == 1, "benign", "malignant")
    df = df.sample(200, random_state=0).reset_index(drop=True)
    path = tmp_path / "cancer.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture
def iris_frame() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    return load_iris(as_frame=True).frame
