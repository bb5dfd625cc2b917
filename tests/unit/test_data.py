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
    with pytest.raises(DataError, match=r"not valid UTF-8 \(line 2, byte 14: 0xe9\).*iconv"):
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


def _csv(tmp_path: Path, df: pd.DataFrame, name: str = "t.csv", **kw) -> Path:
    p = tmp_path / name
    df.to_csv(p, index=False, **kw)
    return p


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "automl" and r.levelname == "WARNING"]


def test_label_column_rules(tmp_path: Path, iris_frame, caplog):
    df = iris_frame.rename(columns={"target": "label"})
    with pytest.raises(DataError, match="label column 'label' is empty in every row"):
        load_dataset(_csv(tmp_path, df.assign(label="")))
    price = np.round(np.random.default_rng(0).uniform(1, 100, len(df)), 3)
    with pytest.raises(DataError, match="'price' looks continuous .*classification only"):
        load_dataset(_csv(tmp_path, df.assign(price=price).drop(columns="label")), label="price")
    with pytest.raises(DataError, match=r"class 'a'\. A classifier"):  # no numpy reprs
        load_dataset(_csv(tmp_path, df.assign(label="a")))
    labels = (["cat"] * 40 + ["Cat "] * 30 + [" cat"] * 30 + ["dog"] * 50)[: len(df)]
    ds = load_dataset(_csv(tmp_path, df.assign(label=labels)))
    assert len(set(ds.y)) == 4  # kept apart, as given
    assert any("' cat', 'Cat ', 'cat' differ only in case" in w for w in _warnings(caplog))


def test_feature_columns_are_cleaned_with_a_warning_each(tmp_path: Path, iris_frame, caplog):
    df = iris_frame.rename(columns={"target": "label"})
    df.columns = ["a", "b", "c", "d", "label"]
    df = df.assign(
        row_id=np.arange(len(df))[::-1] + 100,
        notes=np.nan,
        measured=pd.date_range("2024-01-30", periods=len(df), freq="D").strftime("%Y-%m-%d"),
    )
    df.loc[[3, 9], "a"] = [np.inf, -np.inf]
    df = df.astype({"b": object})
    df.loc[7, "b"] = "twelve"
    ds = load_dataset(_csv(tmp_path, df))
    dates = ["measured_year", "measured_month", "measured_day_of_week", "measured_day_of_year"]
    assert list(ds.X.columns) == ["a", "b", "c", "d", *dates]
    assert ds.X["a"].isna().sum() == 2 and ds.X["b"].dtype.kind == "f" and ds.X["b"].isna().sum() == 1
    assert ds.X.loc[0, "measured_month"] == 1 and ds.X.loc[2, "measured_month"] == 2
    text = " | ".join(_warnings(caplog))
    for said in (
        "'notes' is empty",
        "'row_id' holds a different value",
        "'measured' holds dates",
        "line 9: 'twelve'",
        "2 in column 'a'",
    ):
        assert said in text
    # predict reads new rows the same way: dates become the same numbers
    new = _csv(tmp_path, df.drop(columns="label").head(3), "new.csv")
    X = load_inputs(new, "tabular", ds.schema)
    assert list(X.columns) == list(ds.X.columns) and X["measured_year"].tolist() == [2024.0] * 3


def test_a_row_number_under_another_name_is_kept_with_a_warning(tmp_path: Path, caplog):
    df = pd.DataFrame({"x": range(20), "y": [3, 1, 2, 5] * 5, "label": ["a", "b"] * 10})
    assert list(load_dataset(_csv(tmp_path, df)).X.columns) == ["x", "y"]
    assert any("'x' counts 0, 1, 2" in w for w in _warnings(caplog))


def test_mostly_words_stay_categorical(tmp_path: Path, caplog):
    df = pd.DataFrame({"size": ["S", "M", "L", "XL", "10"] * 4, "label": ["a", "b"] * 10})
    ds = load_dataset(_csv(tmp_path, df))
    assert ds.X["size"].tolist()[:5] == ["S", "M", "L", "XL", "10"]
    assert any("'size' mixes numbers and words" in w for w in _warnings(caplog))


def test_duplicate_column_names_are_named(tmp_path: Path, caplog):
    p = tmp_path / "dup.csv"
    p.write_text("x,y,x,label\n" + "".join(f"{i},{i % 3},{i % 5},{'ab'[i % 2]}\n" for i in range(20)))
    load_dataset(p)
    assert any("duplicate column name(s) 'x'" in w for w in _warnings(caplog))


@pytest.mark.parametrize(
    "sep,name,match",
    [(";", "semi.csv", "looks semicolon-separated"), (",", "commas.tsv", "looks comma-separated.*\\.csv")],
)
def test_wrong_separator_names_the_cause(tmp_path: Path, iris_frame, sep, name, match):
    with pytest.raises(DataError, match=f"one column called .*{match}"):
        load_dataset(_csv(tmp_path, iris_frame, name, sep=sep), label="target")


def test_binary_file_is_not_called_an_encoding_problem(tmp_path: Path):
    p = tmp_path / "garbage.csv"
    p.write_bytes(np.random.default_rng(0).bytes(2048))
    with pytest.raises(DataError, match="garbage.csv is not a text table"):
        load_dataset(p)


def test_unlabelled_table_must_exist_fit_and_have_the_columns(tmp_path: Path, iris_frame):
    df = iris_frame.rename(columns={"target": "label"})
    data = _csv(tmp_path, df)
    with pytest.raises(DataError, match="--unlabelled .*pool.csv does not exist"):
        load_dataset(data, unlabelled=tmp_path / "pool.csv")
    with pytest.raises(DataError, match="--unlabelled .* is not a table"):
        load_dataset(data, unlabelled=tmp_path)
    pool = _csv(tmp_path, df.iloc[:, :2], "pool.csv")
    with pytest.raises(DataError, match=r"--unlabelled .*pool.csv lacks column\(s\) \[.*\] of"):
        load_dataset(data, unlabelled=pool)
    pool = _csv(tmp_path, df.drop(columns="label").assign(extra=1), "pool.csv")
    assert load_dataset(data, unlabelled=pool).n_unlabelled == len(df)


def test_text_column_empty_everywhere(tmp_path: Path):
    df = pd.DataFrame({"review": [""] * 6, "stars": range(6), "label": ["a", "b"] * 3})
    with pytest.raises(DataError, match=r"text column\(s\) \['review'\] are empty in every labelled row"):
        load_dataset(_csv(tmp_path, df), text_column="review")


def test_folders_ignore_hidden_files_and_name_the_other_kind(tmp_path: Path, caplog):
    from PIL import Image

    from automl.data.load import folder_modality

    for c in ("red", "blue"):
        (tmp_path / c).mkdir()
        for i in range(3):
            colour = (i * 40, 0, 200) if c == "blue" else (200, i * 40, 0)
            Image.new("RGB", (32, 32), colour).save(tmp_path / c / f"{i}.png")
            (tmp_path / c / f"._{i}.png").write_bytes(b"\x00\x05\x16\x07Mac OS X")
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "__MACOSX" / "junk.png").write_bytes(b"junk")
    (tmp_path / "red" / "clip.wav").write_bytes(b"RIFF")
    assert folder_modality(tmp_path) is Modality.IMAGE
    assert any("1 audio clip(s) are ignored" in w for w in _warnings(caplog))
    ds = load_dataset(tmp_path)
    assert len(ds) == 6 and sorted(set(ds.y)) == ["blue", "red"] and not ds.notes


def test_unlabelled_of_the_wrong_kind_for_a_folder(tmp_path: Path):
    from PIL import Image

    for c in ("red", "blue"):
        (tmp_path / "photos" / c).mkdir(parents=True)
        for i in range(3):
            colour = (i * 40, 0, 200) if c == "blue" else (200, i * 40, 0)
            Image.new("RGB", (32, 32), colour).save(tmp_path / "photos" / c / f"{i}.png")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("not an image")
    for pool in (tmp_path / "docs", tmp_path / "pool.csv"):
        pool.touch()
        with pytest.raises(DataError, match=f"--unlabelled {pool} holds no image files"):
            load_dataset(tmp_path / "photos", unlabelled=pool)


def test_a_pool_is_not_the_labelled_data_and_its_messages_name_its_flag(tmp_path: Path):
    p = tmp_path / "data.csv"
    pd.DataFrame({"x": range(8), "label": ["a", "b"] * 4}).to_csv(p, index=False)
    with pytest.raises(DataError, match="is the --data itself"):
        load_dataset(p, unlabelled=p)
    empty = tmp_path / "pool.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="Point --unlabelled at"):
        load_dataset(p, unlabelled=empty)


def test_a_folder_one_level_too_high_names_the_right_one(tmp_path: Path):
    from PIL import Image

    for k, c in enumerate(("cat", "dog")):
        (tmp_path / "data" / "extra" / c).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (32, 32), (i * 40, k * 90, 0)).save(tmp_path / "data" / "extra" / c / f"{i}.png")
    with pytest.raises(DataError, match=r"pass --data .*extra instead"):
        load_dataset(tmp_path / "data")
    assert len(load_dataset(tmp_path / "data" / "extra")) == 6


def test_unparseable_tables_say_what_to_fix(tmp_path: Path):
    p = tmp_path / "ragged.csv"
    p.write_text("a,b,label\n1,2,x\n1,2,3,y\n")
    with pytest.raises(DataError, match="as many fields as the header"):
        load_dataset(p)
