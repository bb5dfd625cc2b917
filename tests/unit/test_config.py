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


def test_budget_over_a_year_is_refused_before_timers_overflow():
    with pytest.raises(ConfigError, match="more than a year; give at most 8784h"):
        Budget.parse("99999999999999999999s")
    assert Budget.parse("8784h").seconds == 366 * 24 * 3600


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


def _config(tmp_path: Path, **kw) -> SearchConfig:
    return SearchConfig(**{"data": tmp_path / "x.csv", "budget": Budget(10), "output": tmp_path / "o", **kw})


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"seed": -1}, "--seed must be between 0 and"),
        ({"seed": 2**32}, "--seed"),
        ({"n_jobs": 0}, "--jobs must be at least 1"),
        ({"n_jobs": -2}, "--jobs"),
        ({"study": ""}, "--study ''"),
        ({"study": "../../x"}, r"--study '\.\./\.\./x'"),
        ({"study": "team/iris"}, "path separator"),
        ({"study": ".."}, "--study"),
        ({"tracking_uri": "foo://bar"}, "unsupported scheme 'foo'"),
        ({"data": "https://example.org/iris.csv"}, "--data https://example.org/iris.csv is a URL.*Download"),
        ({"unlabelled": "s3://bucket/pool.csv"}, "--unlabelled s3://bucket/pool.csv is a URL"),
    ],
)
def test_config_refuses_bad_settings_by_flag(tmp_path: Path, kw, match):
    with pytest.raises(ConfigError, match=match):
        _config(tmp_path, **kw)


def test_config_accepts_good_settings_and_paths_as_str(tmp_path: Path):
    c = _config(tmp_path, data=str(tmp_path / "x.csv"), study="iris-2.v1", seed=2**32 - 1, n_jobs=1)
    assert c.data == tmp_path / "x.csv" and c.run_dir == tmp_path / "o" / "iris-2.v1"
    for uri in ("http://host:5000", "sqlite:///m.db", "postgresql+psycopg://u@h/db", "/abs/mlruns"):
        _config(tmp_path, tracking_uri=uri)


def test_output_must_be_a_writable_folder(tmp_path: Path):
    f = tmp_path / "runs.txt"
    f.write_text("x")
    with pytest.raises(ConfigError, match="--output .*runs.txt is a file, not a folder"):
        _config(tmp_path, output=f)
    with pytest.raises(ConfigError, match="--output .*runs.txt/sub is under .*runs.txt, which is a file"):
        _config(tmp_path, output=f / "sub")
    _config(tmp_path, output=tmp_path / "new" / "deeper")  # created later, by the search


def test_predict_out_file_rules(tmp_path: Path):
    from automl.config import check_out_file

    data = tmp_path / "new.csv"
    data.write_text("a\n1\n")
    with pytest.raises(ConfigError, match="--out .* is a folder"):
        check_out_file(tmp_path, data)
    with pytest.raises(ConfigError, match="--out .* same file as --data"):
        check_out_file(tmp_path / "." / "new.csv", data)
    with pytest.raises(ConfigError, match="is under .*new.csv, which is a file"):
        check_out_file(data / "p.csv", data)
    check_out_file(tmp_path / "missing" / "p.csv", data)


def test_journal_urls_are_absolute_paths():
    from automl.search.study import journal_path

    assert journal_path("journal:///abs/dir/optuna.journal") == Path("/abs/dir/optuna.journal")
    assert journal_path("journal:////abs/optuna.journal") == Path("/abs/optuna.journal")
    assert journal_path("sqlite:///x.db") is None
    with pytest.raises(ConfigError, match="relative.*journal:///"):
        journal_path("journal://optuna.journal")
