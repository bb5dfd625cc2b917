from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automl.data.dataset import Modality
from automl.data.load import load_dataset, load_inputs
from automl.data.profile import profile_dataset
from automl.data.splits import FoldPlan, make_fold_plan
from automl.exceptions import DataError


def test_loads_table_with_categorical_and_missing(mixed_csv: Path):
    ds = load_dataset(mixed_csv, label="diagnosis")
    assert ds.modality is Modality.TABULAR and len(ds) == 200
    prof = profile_dataset(ds)
    assert prof.categorical_columns == ("site",)
    assert prof.missing_fraction > 0
    assert "2 classes" in prof.statement()


def test_label_detected_by_name(wine_csv: Path):
    assert load_dataset(wine_csv).schema["columns"][-1] != "target"


def test_missing_label_column_lists_columns(wine_csv: Path):
    with pytest.raises(DataError, match=r"Label column 'species' is not in .*Columns: alcohol"):
        load_dataset(wine_csv, label="species")


def test_undetectable_label_asks_for_it(tmp_path: Path):
    p = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2, 3, 4], "b": [0, 1, 0, 1]}).to_csv(p, index=False)
    with pytest.raises(DataError, match="--label"):
        load_dataset(p)


@pytest.mark.parametrize("content,match", [(b"", "empty"), (b"a,label\n", "no rows")])
def test_empty_files(tmp_path: Path, content, match):
    p = tmp_path / "e.csv"
    p.write_bytes(content)
    with pytest.raises(DataError, match=match):
        load_dataset(p)


def test_missing_file_and_bad_suffix(tmp_path: Path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(tmp_path / "nope.csv")
    p = tmp_path / "data.xlsx"
    p.write_text("x")
    with pytest.raises(DataError, match="unsupported file type"):
        load_dataset(p)


def test_non_utf8_names_the_fix(tmp_path: Path):
    p = tmp_path / "latin.csv"
    p.write_bytes("name,label\ncaf\xe9,a\nna\xefve,b\n".encode("latin-1"))
    with pytest.raises(DataError, match="not valid UTF-8.*iconv"):
        load_dataset(p)


def test_one_class_and_singleton_class(tmp_path: Path):
    p = tmp_path / "one.csv"
    pd.DataFrame({"x": [1, 2, 3], "label": ["a", "a", "a"]}).to_csv(p, index=False)
    with pytest.raises(DataError, match="at least two classes"):
        load_dataset(p)
    pd.DataFrame({"x": [1, 2, 3, 4], "label": ["a", "a", "a", "b"]}).to_csv(p, index=False)
    with pytest.raises(DataError, match=r"\['b'\] have a single labelled example"):
        load_dataset(p)


def test_rows_without_label_become_the_pool(tmp_path: Path):
    p = tmp_path / "pool.csv"
    pd.DataFrame({"x": range(10), "label": ["a", "b"] * 3 + [None] * 4}).to_csv(p, index=False)
    ds = load_dataset(p)
    assert len(ds) == 6 and ds.n_unlabelled == 4


def test_fold_plan_adapts_to_small_class(iris_frame):
    y = np.array([0] * 20 + [1] * 3)
    df = pd.DataFrame({"x": np.arange(23)})
    from automl.data.dataset import Dataset

    prof = profile_dataset(Dataset(Modality.TABULAR, df, y, "t"))
    plan = make_fold_plan(y, 5, 0, prof)
    assert plan.n_splits == 3 and "fewer than the 5 folds" in plan.note
    for i in range(len(plan)):
        _, test = plan.split(i)
        assert set(y[test]) == {0, 1}  # every validation fold holds every class
    assert FoldPlan.from_dict(plan.to_dict()).split(2)[1].tolist() == plan.split(2)[1].tolist()


def test_tiny_tables_get_repeated_cv(iris_frame):
    from automl.data.dataset import Dataset

    y = np.repeat([0, 1], 30)
    prof = profile_dataset(Dataset(Modality.TABULAR, pd.DataFrame({"x": range(60)}), y, "t"))
    plan = make_fold_plan(y, 5, 0, prof)
    assert plan.n_repeats == 3 and len(plan) == 15
    # Within one repeat the validation folds partition the rows.
    assert sorted(np.concatenate(plan.test_folds[:5]).tolist()) == list(range(60))


def test_predict_inputs_must_have_training_columns(wine_csv: Path, tmp_path: Path):
    ds = load_dataset(wine_csv)
    df = pd.read_csv(wine_csv).drop(columns=["alcohol", "target"])
    p = tmp_path / "new.csv"
    df.to_csv(p, index=False)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['alcohol'\]"):
        load_inputs(p, "tabular", ds.schema)


def test_text_columns_make_a_text_dataset(tmp_path: Path):
    p = tmp_path / "reviews.csv"
    texts = [
        f"this film was {w} and I would watch it again {i}" for i, w in enumerate(["great", "awful"] * 6)
    ]
    pd.DataFrame({"review": texts, "stars": [1, 2] * 6, "label": ["pos", "neg"] * 6}).to_csv(p, index=False)
    ds = load_dataset(p)
    assert ds.modality is Modality.TEXT and ds.schema == {"text_columns": ["review"]}


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".tsv"])
def test_other_table_formats(tmp_path: Path, iris_frame, suffix):
    p = tmp_path / f"iris{suffix}"
    df = iris_frame.rename(columns={"target": "label"})
    if suffix == ".parquet":
        df.to_parquet(p)
    elif suffix == ".jsonl":
        df.to_json(p, orient="records", lines=True)
    else:
        df.to_csv(p, sep="\t", index=False)
    ds = load_dataset(p)
    assert len(ds) == 150 and ds.X.shape[1] == 4
