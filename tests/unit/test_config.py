from pathlib import Path

import pytest

from automl.config import Budget, SearchConfig, default_study_name, redact_url
from automl.exceptions import ConfigError


@pytest.mark.parametrize(
    "text,seconds", [("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("1h0m5s", 3605), ("45", 45)]
)
def test_budget_parses_accepted_forms(text, seconds):
    assert Budget.parse(text).seconds == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "5x", "-3m", "0s", "m"])
def test_bad_budget_lists_accepted_forms(text):
    with pytest.raises(ConfigError, match="90s, 15m, 2h, 1h30m"):
        Budget.parse(text)


def test_budget_str_round_trips():
    assert str(Budget.parse("1h30m")) == "1h30m"
    assert Budget.parse(str(Budget.parse("2h5s"))).seconds == 7205


def test_study_name_from_generic_folder(tmp_path: Path):
    d = tmp_path / "cifar10-few" / "train"
    d.mkdir(parents=True)
    assert default_study_name(d) == "cifar10-few-train"
    f = tmp_path / "my data.csv"
    f.write_text("a\n1\n")
    assert default_study_name(f) == "my-data"


def test_config_rejects_bad_cv_and_trials(tmp_path: Path):
    with pytest.raises(ConfigError, match="n_folds|--cv"):
        SearchConfig(data=tmp_path, budget=Budget(10), cv=1)
    with pytest.raises(ConfigError, match="--trials"):
        SearchConfig(data=tmp_path, budget=Budget(10), trials=0)


def test_default_stores_live_in_output(tmp_path: Path):
    c = SearchConfig(data=tmp_path / "x.csv", budget=Budget(10), output=tmp_path / "out")
    assert c.storage_url.endswith(str(tmp_path / "out" / "optuna.db"))
    assert c.tracking.startswith("sqlite:///") and c.tracking.endswith("mlflow.db")


def test_redact_url_hides_password_only():
    assert redact_url("postgresql://bob:s3cret@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert redact_url("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"
    assert "s3cret" not in redact_url("http://bob:s3cret@host:5000")
