"""A corpus of malformed and hostile inputs, and what a user of `automl` should get for each.

Every case runs the real CLI in process (``automl.cli.main(argv)``) and asserts the contract:

* an error exits 2 (argparse's usage errors too) with ONE message line that names the
  offending file / column / value / flag (the case's ``words``), never a Python traceback;
* some inputs must instead succeed (exit 0) with a warning naming what was odd (``warning``),
  or simply succeed (``ok``); ``either`` accepts a clear refusal or a success with a warning.

The corpus documents the target behaviour: cases that fail today are the work list. A
failure's one-line verdict starts with [a] (a traceback reached the user), [b] (silently
accepted or wrong result, exit 0) or [c] (refused with an unclear/incomplete message, or
refused where it should succeed).

Run:  python -m pytest tests/robustness -q -p no:cacheprovider -rf
      (AUTOML_ROBUSTNESS_SHOW=1 prints what the user saw for every case, passing ones too)
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from robustness_kit import (
    AUDIO_SPACE,
    IMAGE_SPACE,
    IRIS_FEATURES,
    SMOKE,
    TEXT_SPACE,
    Case,
    Ctx,
    audio_folder,
    image_folder,
    iris_df,
    judge,
    png,
    reviews_df,
    run_cli,
    wav,
    write_csv,
)

# --------------------------------------------------------------------------------------------
# argv templates
# --------------------------------------------------------------------------------------------


def S(*extra: str) -> list[str]:
    """A cheap table search: smoke space, 1 trial, 1 thread. Later flags override earlier ones."""
    return [
        "search",
        "--data",
        "{data}",
        "--label",
        "{label}",
        "--budget",
        "20s",
        "--output",
        "{out}",
        "--space",
        str(SMOKE),
        "--trials",
        "1",
        "--jobs",
        "1",
        *extra,
    ]


def TS(*extra: str) -> list[str]:
    """A cheap text-table search (TF-IDF + logreg)."""
    return [
        "search",
        "--data",
        "{data}",
        "--label",
        "{label}",
        "--budget",
        "20s",
        "--output",
        "{out}",
        "--space",
        str(TEXT_SPACE),
        "--trials",
        "1",
        "--jobs",
        "1",
        *extra,
    ]


def IS(*extra: str) -> list[str]:
    """A cheap image-folder search (EfficientNet-Lite0 probe at 96 px)."""
    return [
        "search",
        "--data",
        "{data}",
        "--budget",
        "60s",
        "--output",
        "{out}",
        "--space",
        str(IMAGE_SPACE),
        "--trials",
        "1",
        "--jobs",
        "1",
        *extra,
    ]


def AS(*extra: str) -> list[str]:
    """A cheap audio-folder search (MFCC statistics + logreg)."""
    return [
        "search",
        "--data",
        "{data}",
        "--budget",
        "60s",
        "--output",
        "{out}",
        "--space",
        str(AUDIO_SPACE),
        "--trials",
        "1",
        "--jobs",
        "1",
        *extra,
    ]


def P(*extra: str) -> list[str]:
    return ["predict", "--model", "{model}", "--data", "{data}", "--out", "{pred}", *extra]


# --------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------


def iris(mutate=None, name: str = "iris.csv", label: str = "species", **csv_kw):
    """Iris (optionally changed by ``mutate(df) -> df``) written to ``name``."""

    def build(ctx: Ctx) -> dict:
        df = iris_df()
        if mutate is not None:
            df = mutate(df)
        return {"data": write_csv(df, ctx.tmp / name, **csv_kw), "name": name, "label": label}

    return build


def raw(content: bytes | str, name: str, label: str = "species"):
    """A file with exactly these bytes."""

    def build(ctx: Ctx) -> dict:
        path = ctx.tmp / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return {"data": path, "name": name, "label": label}

    return build


def nothing(name: str, label: str = "species"):
    def build(ctx: Ctx) -> dict:
        return {"data": ctx.tmp / name, "name": name, "label": label}

    return build


def both(*builders):
    """Run builders in order and merge their placeholders."""

    def build(ctx: Ctx) -> dict:
        out: dict = {}
        for b in builders:
            out.update(b(ctx))
        return out

    return build


def extra(**kw):
    """Placeholders computed from ctx: values are callables ``ctx -> value``."""

    def build(ctx: Ctx) -> dict:
        return {k: v(ctx) for k, v in kw.items()}

    return build


def set_cell(col: str, rows, value):
    def mutate(df: pd.DataFrame) -> pd.DataFrame:
        df = df.astype({col: object}) if isinstance(value, str) else df
        df.loc[rows, col] = value
        return df

    return mutate


def _garbage(n: int = 4096) -> bytes:
    return np.random.default_rng(0).bytes(n)


def text_table(mutate=None, name: str = "reviews.csv"):
    def build(ctx: Ctx) -> dict:
        df = reviews_df()
        if mutate is not None:
            df = mutate(df)
        return {"data": write_csv(df, ctx.tmp / name), "name": name, "label": "sentiment"}

    return build


def images(classes=None, size: int = 32, name: str = "photos", then=None):
    """Class folders of PNGs; ``then(root)`` may add hostile files."""

    def build(ctx: Ctx) -> dict:
        root = image_folder(ctx.tmp / name, classes, size)
        if then is not None:
            then(root)
        return {"data": root, "name": name}

    return build


def clips(classes=None, name: str = "clips", then=None):
    def build(ctx: Ctx) -> dict:
        root = audio_folder(ctx.tmp / name, classes)
        if then is not None:
            then(root)
        return {"data": root, "name": name}

    return build


def folder(name: str, files: dict[str, bytes | str] | None = None, dirs: tuple[str, ...] = ()):
    """A folder with these files (relative path -> content) and empty sub-folders."""

    def build(ctx: Ctx) -> dict:
        root = ctx.tmp / name
        root.mkdir(parents=True, exist_ok=True)
        for d in dirs:
            (root / d).mkdir(parents=True, exist_ok=True)
        for rel, content in (files or {}).items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(content.encode() if isinstance(content, str) else content)
        return {"data": root, "name": name}

    return build


def model(fixture: str, key: str = "model"):
    def build(ctx: Ctx) -> dict:
        return {"model": ctx.fixture(fixture)[key]}

    return build


def broken_model(file: str, content: bytes):
    """A copy of the iris model folder with one file overwritten."""

    def build(ctx: Ctx) -> dict:
        dst = ctx.tmp / "broken_model"
        shutil.copytree(ctx.fixture("iris_model")["model"], dst)
        (dst / file).write_bytes(content)
        return {"model": dst}

    return build


def space(text: str, name: str = "space.yaml"):
    def build(ctx: Ctx) -> dict:
        (ctx.tmp / name).write_text(text)
        return {"space": ctx.tmp / name, "sname": name}

    return build


def readonly_output(ctx: Ctx) -> dict:
    ro = ctx.tmp / "readonly"
    ro.mkdir()
    ro.chmod(0o555)
    ctx.request.addfinalizer(lambda: ro.chmod(0o755))
    if os.access(ro, os.W_OK):
        pytest.skip("running as root: chmod 555 does not stop writes, so this case cannot be staged")
    return {"out": ro / "runs"}


def moved_study(ctx: Ctx) -> dict:
    """A finished search on a copy of iris, its study copied into a journal file, then the
    data deleted: a worker on another machine without the data."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    from automl.cli import main

    data = write_csv(iris_df(), ctx.tmp / "moved.csv")
    out = ctx.tmp / "src_runs"
    assert (
        main(
            [
                "search",
                "--data",
                str(data),
                "--label",
                "species",
                "--budget",
                "20s",
                "--output",
                str(out),
                "--space",
                str(SMOKE),
                "--trials",
                "1",
                "--jobs",
                "1",
                "-q",
            ]
        )
        == 0
    )
    journal = ctx.tmp / "shared" / "optuna.journal"
    journal.parent.mkdir()
    optuna.copy_study(
        from_study_name="moved",
        from_storage=f"sqlite:///{out / 'optuna.db'}",
        to_storage=JournalStorage(JournalFileBackend(str(journal))),
    )
    data.unlink()
    return {"journal": journal, "name": "moved.csv"}


def copy_run(ctx: Ctx) -> dict:
    """The iris run folder copied away from its output folder (no optuna.db beside it)."""
    dst = ctx.tmp / "elsewhere" / "iris"
    shutil.copytree(ctx.fixture("iris_model")["run_dir"], dst)
    return {"run": dst}


def moved_output(ctx: Ctx) -> dict:
    """The whole output folder copied elsewhere, its recorded storage path gone."""
    src = ctx.fixture("iris_model")["out"]
    dst = ctx.tmp / "moved" / "runs"
    shutil.copytree(src, dst)
    summary = dst / "iris" / "summary.json"
    data = json.loads(summary.read_text())
    data["storage"] = f"sqlite:///{ctx.tmp / 'gone' / 'optuna.db'}"
    summary.write_text(json.dumps(data))
    return {"run": dst / "iris"}


def runs_with_summary(content: str):
    def build(ctx: Ctx) -> dict:
        d = ctx.tmp / "runs" / "broken"
        d.mkdir(parents=True)
        (d / "summary.json").write_text(content)
        return {"out": ctx.tmp / "runs"}

    return build


# --------------------------------------------------------------------------------------------
# checks run after the command
# --------------------------------------------------------------------------------------------


def pred_rows(n: int):
    def check(v: dict, o) -> None:
        path = Path(v["pred"])
        assert path.is_file(), f"[b] exit 0 but no predictions at {path}"
        got = len(pd.read_csv(path))
        assert got == n, f"[b] {got} prediction rows, expected {n}"

    return check


def nothing_outside(v: dict, o) -> None:
    escaped = Path(v["tmp"]) / "x"
    assert not escaped.exists(), f"[b] wrote {escaped}, outside --output {v['out']}"


def journal_at(v: dict, o) -> None:
    assert Path(v["journal"]).is_file(), f"[b] no journal at the absolute path {v['journal']}"


def input_unchanged(v: dict, o) -> None:
    df = pd.read_csv(v["data"])
    assert list(df.columns) == IRIS_FEATURES + ["species"], "[b] --out overwrote the input table --data"


def no_secret(v: dict, o) -> None:
    assert "s3cret" not in o.stderr + o.stdout, "[c] the storage password was printed"


def stdout_has(text: str):
    def check(v: dict, o) -> None:
        assert text.lower() in o.stdout.lower(), f"[c] stdout lacks {text!r}: {o.stdout[:200]!r}"

    return check


# --------------------------------------------------------------------------------------------
# hostile data
# --------------------------------------------------------------------------------------------


def _infinities(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df.loc[[3, 50], "sl"] = np.inf
    df.loc[99, "sl"] = -np.inf
    return df


def _flat_images(ctx: Ctx) -> dict:
    """Images straight in the folder, no class sub-folders."""
    for i in range(6):
        png(ctx.tmp / "photos" / f"{i}.png", seed=i)
    return {"data": ctx.tmp / "photos", "name": "photos"}


def _journal_in_tmp(ctx: Ctx) -> dict:
    (ctx.tmp / "j").mkdir()
    return {"journal": ctx.tmp / "j" / "optuna.journal"}


def _label_variants(df: pd.DataFrame) -> pd.DataFrame:
    """cat / Cat / cat-with-spaces vs dog, on two informative features."""
    rng = np.random.default_rng(0)
    labels = ["cat"] * 15 + ["Cat "] * 8 + [" cat"] * 7 + ["dog"] * 30
    x = np.r_[rng.normal(0, 1, 30), rng.normal(3, 1, 30)]
    return pd.DataFrame({"weight": x, "height": x + rng.normal(0, 0.5, 60), "animal": labels})


def _with_images(root: Path) -> None:
    for c in ("red", "blue"):
        for i in range(3):
            wav(root / c / f"clip{i}.wav", 300 + 50 * i, seed=i)


def _zero_byte_jpg(root: Path) -> None:
    (root / "red" / "empty.jpg").write_bytes(b"")


def _truncated_png(root: Path) -> None:
    p = png(root / "red" / "trunc.png", 64, (200, 40, 40), seed=7)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _mixed_modes(root: Path) -> None:
    from PIL import Image

    png(root / "red" / "grey.png", 32, (200, 40, 40), seed=11, mode="L")
    png(root / "red" / "alpha.png", 32, (200, 40, 40), seed=12, mode="RGBA")
    png(root / "blue" / "palette.png", 32, (40, 40, 200), seed=13, mode="P")
    arr = (np.random.default_rng(14).random((32, 32)) * 65535).astype("uint16")
    Image.fromarray(arr).save(root / "blue" / "sixteen.png")  # mode I;16
    Image.new("CMYK", (32, 32), (0, 200, 0, 40)).save(root / "blue" / "cmyk.jpg")


def _apple_junk(root: Path) -> None:
    junk = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 64
    for f in list(root.rglob("*.png")):
        (f.parent / f"._{f.name}").write_bytes(junk)
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + b"\x00" * 32)
    (root / "red" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 32)


def _duplicate_across(root: Path) -> None:
    shutil.copy(root / "red" / "red0.png", root / "blue" / "red0.png")


def _zero_samples(root: Path) -> None:
    import soundfile as sf

    sf.write(str(root / "low" / "empty.wav"), np.zeros(0, dtype="float32"), 8000)


def _silence(ctx: Ctx) -> dict:
    root = ctx.tmp / "clips"
    for c in ("a", "b"):
        for i in range(4):
            wav(root / c / f"{c}{i}.wav", amp=0.0, seed=i)
    return {"data": root, "name": "clips"}


def _mixed_rates(root: Path) -> None:
    wav(root / "low" / "hq.wav", 230, sr=44100, channels=2, seed=21)
    wav(root / "high" / "wide.wav", 890, sr=16000, channels=2, seed=22)
    wav(root / "high" / "short.wav", 900, seconds=0.3, sr=22050, seed=23)


def _bom(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={"species": "label"})[["label"] + IRIS_FEATURES]


TEXT_FILES = {"notes.txt": "not an image", "more/readme.txt": "still not an image"}


CASES: list[Case] = [
    # ---------------------------------------------------------------- tables: files
    Case("table-missing-file", nothing("nope.csv"), S(), words=("nope.csv", ("does not exist", "not found"))),
    Case("table-empty-file", raw(b"", "empty.csv"), S(), words=("empty.csv", "empty")),
    Case(
        "table-header-only",
        raw("sl,sw,pl,pw,species\n", "header.csv"),
        S(),
        words=("header.csv", ("no rows", "no data")),
    ),
    Case(
        "table-binary-garbage",
        raw(_garbage(), "garbage.csv"),
        S(),
        words=("garbage.csv", ("binary", "not text", "not a text", "not a csv")),
        why="random bytes are not a latin-1 table: suggesting iconv misleads",
    ),
    Case(
        "table-latin1",
        iris(lambda d: d.assign(site=["Évora", "Zürich", "Köln"] * 50), "latin.csv", encoding="latin-1"),
        S(),
        words=("latin.csv", "utf-8"),
    ),
    Case(
        "table-parquet-corrupt",
        raw(b"PAR1" + _garbage(512) + b"PAR1", "bad.parquet"),
        S(),
        words=("bad.parquet", "parquet"),
    ),
    Case("table-xlsx", raw(b"PK\x03\x04" + _garbage(256), "iris.xlsx"), S(), words=("iris.xlsx", "csv")),
    Case(
        "table-tsv-with-commas",
        iris(name="iris.tsv"),
        S(),
        words=("iris.tsv", ("comma", "delimiter", "separator")),
    ),
    Case(
        "table-semicolon-csv",
        iris(name="semi.csv", sep=";"),
        S(),
        words=("semi.csv", ("semicolon", "delimiter", "separator")),
    ),
    Case(
        "table-ragged-rows",
        raw("sl,sw,species\n1,2,a\n3,4,b\n5,6,a,EXTRA\n7,8,b\n", "ragged.csv"),
        S(),
        words=("ragged.csv", "line"),
    ),
    Case(
        "table-jsonl-malformed",
        raw('{"sl": 1, "species": "a"}\n{not json\n', "rows.jsonl"),
        S(),
        words=("rows.jsonl", ("json", "line")),
    ),
    Case(
        "table-folder-of-csvs",
        both(iris(name="tables/iris.csv"), extra(data=lambda c: c.tmp / "tables")),
        S(),
        words=("tables", ("csv", "table")),
    ),
    Case(
        "table-data-is-url",
        lambda c: {"data": "https://example.org/iris.csv", "name": "iris.csv"},
        S(),
        words=("https://example.org/iris.csv", ("url", "download", "local")),
    ),
    Case(
        "table-unicode-column-names",
        iris(
            lambda d: d.rename(
                columns={"sl": "längd (cm)", "sw": "🌸 width", "pl": "pl,quoted", "pw": " pw "}
            )
        ),
        S(),
        expect="ok",
    ),
    Case(
        "table-utf8-bom",
        iris(_bom, "bom.csv", label="label", encoding="utf-8-sig"),
        S(),
        expect="ok",
        why="Excel writes a BOM; the label column 'label' must still be found",
    ),
    # ---------------------------------------------------------------- tables: label column
    Case(
        "table-only-label-column",
        iris(lambda d: d[["species"]], "labels.csv"),
        S(),
        words=("species", ("feature", "nothing to learn")),
    ),
    Case("table-label-not-found", iris(label="nope"), S(), words=("nope", "--label")),
    Case(
        "table-one-class",
        iris(lambda d: d.assign(species="setosa")),
        S(),
        words=("setosa", ("two classes", "2 classes", "at least two")),
    ),
    Case(
        "table-single-row-class",
        iris(lambda d: pd.concat([d, d.tail(1).assign(species="rare")])),
        S(),
        words=("rare", ("single", "one example", "1 example", "only one")),
    ),
    Case(
        "table-all-labels-missing",
        iris(lambda d: d.assign(species="")),
        S(),
        words=("species", ("no label", "missing", "empty", "unlabelled")),
    ),
    Case(
        "table-label-case-and-spaces",
        both(iris(_label_variants, "pets.csv", label="animal")),
        S(),
        expect="either",
        words=("cat", ("case", "space")),
    ),
    Case(
        "table-continuous-label",
        iris(
            lambda d: d.assign(price=np.round(np.random.default_rng(0).uniform(1, 100, 150), 3)).drop(
                columns="species"
            ),
            "prices.csv",
            label="price",
        ),
        S(),
        words=("price", "classification"),
    ),
    Case(
        "table-some-labels-missing",
        iris(set_cell("species", range(0, 150, 7), "")),
        S(),
        expect="ok",
        why="rows without a label are the unlabelled pool (README)",
    ),
    # ---------------------------------------------------------------- tables: feature columns
    Case("table-inf-values", iris(_infinities), S(), expect="either", words=("sl", "inf")),
    Case(
        "table-word-in-numeric",
        iris(set_cell("sw", [7], "twelve")),
        S(),
        expect="either",
        words=("sw", "twelve"),
        why="warn and treat as categorical/missing, or refuse clearly",
    ),
    Case(
        "table-duplicate-column",
        raw(
            "sl,sw,sl,pw,species\n"
            + "".join(f"{1 + i % 3},{i % 5},{i % 7},{i % 2},{'ab'[i % 2]}\n" for i in range(40)),
            "dup.csv",
        ),
        S(),
        expect="either",
        words=("sl", "duplicate"),
    ),
    Case(
        "table-id-column",
        iris(lambda d: d.assign(row_id=np.arange(1000, 1150)).sample(frac=1, random_state=0)),
        S(),
        expect="warning",
        words=("row_id", ("unique", "identifier", "drop", "ignor")),
    ),
    Case(
        "table-date-column",
        iris(
            lambda d: d.assign(
                measured=pd.date_range("2024-01-01", periods=150, freq="D").strftime("%Y-%m-%d")
            )
        ),
        S(),
        expect="warning",
        words=("measured", "date"),
    ),
    Case(
        "table-all-empty-feature-column",
        iris(lambda d: d.assign(notes=np.nan)),
        S(),
        expect="warning",
        words=("notes", ("empty", "missing", "no value")),
    ),
    Case(
        "table-two-rows-per-class",
        iris(lambda d: d.groupby("species").head(2)),
        S(),
        expect="warning",
        words=("fold",),
        why="CV is reduced to 2 folds; say so",
    ),
    Case("table-metric-roc-auc-3-classes", iris(), S("--metric", "roc_auc"), expect="ok"),
    # ---------------------------------------------------------------- tables: --unlabelled
    Case(
        "table-unlabelled-missing-columns",
        both(iris(), extra(pool=lambda c: write_csv(iris_df()[["sl", "sw"]], c.tmp / "pool.csv"))),
        S("--unlabelled", "{pool}"),
        words=("--unlabelled", "pool.csv", ("pl", "pw")),
        why="an explicit --unlabelled that cannot be used is refused, as a missing or wrong-kind one is: "
        "ignoring it would run the whole budget without the pool the user asked for",
    ),
    Case(
        "table-unlabelled-missing-file",
        both(iris(), extra(pool=lambda c: c.tmp / "pool.csv")),
        S("--unlabelled", "{pool}"),
        words=("--unlabelled", "pool.csv"),
    ),
    Case(
        "table-unlabelled-image-folder",
        both(iris(), extra(pool=lambda c: image_folder(c.tmp / "imgs", {"x": 3}))),
        S("--unlabelled", "{pool}"),
        words=("--unlabelled", "imgs"),
    ),
    Case(
        "table-unlabelled-is-the-data",
        iris(),
        S("--unlabelled", "{data}"),
        words=("--unlabelled", "--data", "iris.csv"),
        why="labelled rows passed again as the pool are a mistake, not a pool",
    ),
    # ---------------------------------------------------------------- text tables
    Case(
        "text-column-empty-everywhere",
        text_table(lambda d: d.assign(review="")),
        TS("--text", "review"),
        words=("review", "empty"),
    ),
    Case("text-column-missing", text_table(), TS("--text", "comments"), words=("comments", "--text")),
    Case(
        "text-one-of-two-columns-missing",
        text_table(),
        TS("--text", "review,title"),
        words=("title", "--text"),
    ),
    Case(
        "text-predict-missing-column",
        both(model("text_model"), raw("comment,stars\nnice film,3\nbad film,1\n", "new.csv")),
        P(),
        words=("review",),
    ),
    # ---------------------------------------------------------------- image folders
    Case(
        "img-class-folders-one-level-down",
        both(images(name="photos/extra"), extra(data=lambda c: c.tmp / "photos")),
        IS(),
        words=("photos", "extra", "--data"),
        why="one folder whose sub-folders are the classes: point at it, not at one class 'extra'",
    ),
    Case(
        "img-no-class-subfolders",
        _flat_images,
        IS(),
        words=("photos", ("sub-folder", "subfolder", "class folder")),
    ),
    Case(
        "img-class-folders-all-empty",
        folder("photos", dirs=("cats", "dogs")),
        IS(),
        words=("photos", ("no image", "empty")),
    ),
    Case(
        "img-one-empty-class-folder",
        images(then=lambda r: (r / "green").mkdir()),
        IS(),
        expect="warning",
        words=("green",),
    ),
    Case(
        "img-all-corrupt",
        folder("photos", {f"{c}/{i}.png": f"not a png {i}" for c in "ab" for i in range(4)}),
        IS(),
        words=(("unusable", "unreadable", "corrupt"),),
    ),
    Case("img-zero-byte-jpg", images(then=_zero_byte_jpg), IS(), expect="warning", words=("empty.jpg",)),
    Case("img-truncated-png", images(then=_truncated_png), IS(), expect="warning", words=("trunc.png",)),
    Case("img-4x4-pixels", images(size=4), IS(), words=("4x4", "16")),
    Case(
        "img-mixed-with-audio",
        images(then=_with_images),
        IS(),
        expect="either",
        words=("audio", ("ignor", "mix", "both")),
    ),
    Case(
        "img-mixed-modes",
        images(then=_mixed_modes),
        IS(),
        expect="ok",
        why="grey, RGBA, palette, 16-bit and CMYK images are all images",
    ),
    Case(
        "img-macos-junk-files",
        images(then=_apple_junk),
        IS(),
        expect="ok",
        why="._* AppleDouble files, .DS_Store and Thumbs.db come with every zip from a Mac/Windows",
    ),
    Case("img-single-class", images({"red": 6}), IS(), words=(("two classes", "2 classes", "at least two"),)),
    Case("img-same-file-in-two-classes", images(then=_duplicate_across), IS(), words=("red0.png",)),
    Case(
        "img-unlabelled-missing-folder",
        both(images(), extra(pool=lambda c: c.tmp / "pool")),
        IS("--unlabelled", "{pool}"),
        words=("--unlabelled", "pool", ("does not exist", "not found")),
    ),
    Case(
        "img-unlabelled-text-files",
        both(images(), extra(pool=lambda c: folder("pool", TEXT_FILES)(c)["data"])),
        IS("--unlabelled", "{pool}"),
        words=("pool", ("image", ".png", ".jpg")),
    ),
    # ---------------------------------------------------------------- audio folders
    Case("aud-all-silence", _silence, AS(), words=(("silence", "silent"),)),
    Case("aud-zero-samples-wav", clips(then=_zero_samples), AS(), expect="warning", words=("empty.wav",)),
    Case(
        "aud-all-corrupt",
        folder("clips", {f"{c}/{i}.wav": f"RIFF? no {i}" for c in "ab" for i in range(4)}),
        AS(),
        words=(("unusable", "unreadable", "corrupt"),),
    ),
    Case(
        "aud-no-class-subfolders",
        lambda c: {"data": audio_folder(c.tmp / "src", {"low": 4}) / "low", "name": "low"},
        AS(),
        words=("low", ("sub-folder", "subfolder", "class folder")),
    ),
    Case("aud-mixed-rates-and-stereo", clips(then=_mixed_rates), AS(), expect="ok"),
    Case(
        "aud-unlabelled-missing-folder",
        both(clips(), extra(pool=lambda c: c.tmp / "pool")),
        AS("--unlabelled", "{pool}"),
        words=("--unlabelled", "pool", ("does not exist", "not found")),
    ),
    # ---------------------------------------------------------------- predict
    Case(
        "pred-model-not-a-model",
        both(iris(), lambda c: {"model": folder("notamodel", {"readme.txt": "hi"})(c)["data"]}),
        P(),
        words=("notamodel", ("bundle.json", "model folder", "not an automl model")),
    ),
    Case(
        "pred-model-is-run-folder",
        both(iris(), model("iris_model", "run_dir")),
        P(),
        expect="ok",
        check=pred_rows(150),
        why="the issue asks to accept the study folder",
    ),
    Case(
        "pred-model-is-output-folder",
        both(iris(), model("iris_model", "out")),
        P(),
        expect="ok",
        check=pred_rows(150),
        why="one study in the output folder: use its model",
    ),
    Case(
        "pred-model-is-bundle-file",
        both(iris(), lambda c: {"model": c.fixture("iris_model")["model"] / "bundle.json"}),
        P(),
        expect="ok",
        check=pred_rows(150),
        why="a file of the model folder names the model too",
    ),
    Case(
        "pred-out-unwritable",
        both(iris(), model("iris_model"), extra(pred=lambda c: Path("/proc/automl-predictions.csv"))),
        P(),
        words=("/proc/automl-predictions.csv",),
        why="the checks up front pass /proc for root; the write itself must not leak a traceback",
    ),
    Case(
        "suggest-pool-all-labelled",
        both(iris(), model("iris_model")),
        ["suggest", "--model", "{model}", "--pool", "{data}", "--out", "{pred}", "--n", "5"],
        words=("--pool", "labelled"),
        why="an empty list of items to label, with exit 0, reads as success",
    ),
    Case(
        "pred-model-missing",
        both(iris(), extra(model=lambda c: c.tmp / "nomodel")),
        P(),
        words=("nomodel", ("does not exist", "not found")),
    ),
    Case(
        "pred-model-corrupt-pipeline",
        both(iris(), broken_model("pipeline.joblib", b"not a pickle")),
        P(),
        words=("pipeline.joblib",),
    ),
    Case(
        "pred-model-corrupt-bundle-json",
        both(iris(), broken_model("bundle.json", b"{half")),
        P(),
        words=("bundle.json",),
    ),
    Case(
        "pred-out-is-existing-folder",
        both(
            iris(),
            model("iris_model"),
            extra(pred=lambda c: (c.tmp / "predsdir").mkdir() or c.tmp / "predsdir"),
        ),
        P(),
        words=("predsdir", ("--out", "folder", "directory")),
    ),
    Case(
        "pred-out-in-missing-folder",
        both(iris(), model("iris_model"), extra(pred=lambda c: c.tmp / "new" / "sub" / "p.csv")),
        P(),
        expect="ok",
        check=pred_rows(150),
    ),
    Case(
        "pred-out-under-a-file",
        both(iris(), model("iris_model"), extra(pred=lambda c: raw("x", "file.txt")(c)["data"] / "p.csv")),
        P(),
        words=("file.txt", "--out"),
    ),
    Case(
        "pred-out-same-as-data",
        both(iris(), model("iris_model"), extra(pred=lambda c: c.tmp / "iris.csv")),
        P(),
        words=("--out", ("overwrite", "same")),
        check=input_unchanged,
    ),
    Case(
        "pred-data-missing-columns",
        both(iris(lambda d: d.drop(columns="pw"), "new.csv"), model("iris_model")),
        P(),
        words=("new.csv", "pw"),
    ),
    Case(
        "pred-data-extra-columns",
        both(iris(lambda d: d.assign(comment="x")), model("iris_model")),
        P(),
        expect="ok",
        check=pred_rows(150),
        why="the label and unknown columns are ignored",
    ),
    Case(
        "pred-data-columns-reordered",
        both(iris(lambda d: d[["pw", "species", "sl", "pl", "sw"]]), model("iris_model")),
        P(),
        expect="ok",
        check=pred_rows(150),
    ),
    Case(
        "pred-data-empty-file",
        both(raw(b"", "new.csv"), model("iris_model")),
        P(),
        words=("new.csv", "empty"),
    ),
    Case(
        "pred-data-header-only",
        both(raw("sl,sw,pl,pw\n", "new.csv"), model("iris_model")),
        P(),
        words=("new.csv", ("no rows", "nothing to predict", "no data")),
    ),
    Case(
        "pred-data-missing-file",
        both(nothing("new.csv"), model("iris_model")),
        P(),
        words=("new.csv", ("does not exist", "not found")),
    ),
    Case(
        "pred-word-in-numeric-column",
        both(iris(set_cell("sw", [7], "twelve"), "new.csv"), model("iris_model")),
        P(),
        words=("sw", "twelve"),
    ),
    Case(
        "pred-inf-in-numeric-column",
        both(iris(set_cell("sl", [3], np.inf), "new.csv"), model("iris_model")),
        P(),
        expect="either",
        words=("sl", "inf"),
    ),
    Case(
        "pred-tabular-model-on-image-folder",
        both(images(), model("iris_model")),
        P(),
        words=("photos", ("tabular", "table")),
    ),
    Case("pred-image-model-on-csv", both(iris(), model("image_model")), P(), words=("iris.csv", "image")),
    Case(
        "pred-image-model-folder-without-images",
        both(folder("docs", TEXT_FILES), model("image_model")),
        P(),
        words=("docs", ("no image", "no usable image")),
    ),
    Case(
        "pred-audio-model-on-image-folder",
        both(images(), model("audio_model")),
        P(),
        words=("photos", "audio"),
    ),
    # ---------------------------------------------------------------- options
    Case("opt-budget-zero", iris(), S("--budget", "0"), words=("--budget", "positive")),
    Case("opt-budget-negative", iris(), S("--budget", "-5"), words=("--budget", "-5")),
    Case("opt-budget-word", iris(), S("--budget", "abc"), words=("--budget", "abc")),
    Case("opt-budget-unknown-unit", iris(), S("--budget", "1y"), words=("--budget", "1y")),
    Case(
        "opt-budget-past-a-year",
        iris(),
        S("--budget", "99999999999999999999s"),
        words=("--budget", "year"),
        why="past a year the search's timers overflow; it failed every trial with advice to raise the budget",
    ),
    Case("opt-budget-missing", iris(), [a for a in S() if a not in ("--budget", "20s")], words=("--budget",)),
    Case("opt-trials-zero", iris(), S("--trials", "0"), words=("--trials",)),
    Case("opt-trials-negative", iris(), S("--trials", "-1"), words=("--trials", "-1")),
    Case("opt-trials-word", iris(), S("--trials", "many"), words=("--trials", "many")),
    Case("opt-cv-1", iris(), S("--cv", "1"), words=("--cv",)),
    Case("opt-cv-100", iris(), S("--cv", "100"), words=("--cv",)),
    Case("opt-seed-negative", iris(), S("--seed", "-1"), words=("--seed",)),
    Case("opt-jobs-zero", iris(), S("--jobs", "0"), words=("--jobs",)),
    Case("opt-jobs-negative", iris(), S("--jobs", "-2"), words=("--jobs",)),
    Case("opt-heartbeat-zero", iris(), S("--heartbeat", "0"), words=("--heartbeat",)),
    Case("opt-metric-nonsense", iris(), S("--metric", "nonsense"), words=("nonsense", "accuracy")),
    Case(
        "opt-space-missing-file",
        both(iris(), extra(space=lambda c: c.tmp / "nospace.yaml")),
        S("--space", "{space}"),
        words=("nospace.yaml", ("does not exist", "not found")),
    ),
    Case(
        "opt-space-invalid-yaml",
        both(iris(), space("learners: {logreg: [l2\nfeatures: : :\n", "broken.yaml")),
        S("--space", "{space}"),
        words=("broken.yaml", "yaml"),
    ),
    Case(
        "opt-space-not-a-mapping",
        both(iris(), space("- logreg\n- tabular\n", "list.yaml")),
        S("--space", "{space}"),
        words=("list.yaml", ("mapping", "learners")),
    ),
    Case(
        "opt-space-unknown-learner",
        both(iris(), space("learners:\n  lgoreg: {}\nfeatures:\n  tabular: {}\n")),
        S("--space", "{space}"),
        words=("lgoreg", "logreg"),
    ),
    Case(
        "opt-space-unknown-parameter",
        both(iris(), space("learners:\n  logreg: {CC: 1.0}\nfeatures:\n  tabular: {}\n")),
        S("--space", "{space}"),
        words=("CC", "'C'"),
    ),
    Case(
        "opt-space-range-outside-domain",
        both(
            iris(), space("learners:\n  logreg: {C: {low: 0.001, high: 1000000}}\nfeatures:\n  tabular: {}\n")
        ),
        S("--space", "{space}"),
        words=("logreg.C", ("legal", "outside")),
    ),
    Case(
        "opt-study-parent-escape",
        both(iris(), extra(out=lambda c: c.tmp / "w" / "runs")),
        S("--study", "../../x"),
        words=("--study", "../../x"),
        check=nothing_outside,
        why="must not write outside --output",
    ),
    Case("opt-study-with-slash", iris(), S("--study", "team/iris"), words=("--study", "team/iris")),
    Case("opt-study-empty", iris(), S("--study", ""), words=("--study",)),
    Case(
        "opt-output-is-a-file",
        both(iris(), extra(out=lambda c: raw("x", "runs.txt")(c)["data"])),
        S(),
        words=("runs.txt", "--output"),
    ),
    Case(
        "opt-output-under-a-file",
        both(iris(), extra(out=lambda c: raw("x", "file.txt")(c)["data"] / "runs")),
        S(),
        words=("file.txt", "--output"),
    ),
    Case("opt-output-read-only", both(iris(), readonly_output), S(), words=("readonly", "--output")),
    Case(
        "opt-storage-nonsense",
        iris(),
        S("--storage", "nonsense://x"),
        words=("nonsense://x", ("sqlite", "postgresql", "journal")),
    ),
    Case(
        "opt-storage-journal-absolute",
        both(iris(), _journal_in_tmp),
        S("--storage", "journal://{journal}"),
        expect="ok",
        check=journal_at,
        why="README: --storage journal:///abs/path/optuna.journal",
    ),
    Case(
        "opt-storage-journal-missing-folder",
        iris(),
        S("--storage", "journal://{tmp}/nodir/optuna.journal"),
        words=("nodir",),
    ),
    Case(
        "opt-storage-postgres-down",
        iris(),
        S("--storage", "postgresql://nouser@127.0.0.1:1/x"),
        words=("127.0.0.1", ("running", "reach", "connect", "refused")),
    ),
    Case(
        "opt-storage-password-redacted",
        iris(),
        S("--storage", "postgresql://u:s3cret@127.0.0.1:1/x"),
        words=("127.0.0.1",),
        check=no_secret,
    ),
    Case(
        "opt-tracking-server-down",
        iris(),
        S("--tracking-uri", "http://127.0.0.1:1"),
        expect="warning",
        words=(("127.0.0.1:1", "mlflow", "tracking"),),
        why="README: if the MLflow server is unreachable, trials keep running",
    ),
    Case(
        "opt-tracking-uri-bad-scheme",
        iris(),
        S("--tracking-uri", "foo://bar"),
        words=("foo://bar", "--tracking-uri"),
    ),
    # ---------------------------------------------------------------- worker
    Case(
        "worker-sqlite",
        lambda c: {},
        ["worker", "--storage", "sqlite:///{tmp}/optuna.db", "--study", "x"],
        words=("sqlite", ("journal", "postgresql")),
    ),
    Case(
        "worker-unknown-study",
        lambda c: {},
        ["worker", "--storage", "journal://{tmp}/optuna.journal", "--study", "nostudy"],
        words=("nostudy", "automl search"),
    ),
    Case(
        "worker-storage-unreachable",
        lambda c: {},
        ["worker", "--storage", "postgresql://nouser@127.0.0.1:1/x", "--study", "x"],
        words=("127.0.0.1",),
    ),
    Case(
        "worker-storage-nonsense",
        lambda c: {},
        ["worker", "--storage", "nonsense://x", "--study", "x"],
        words=("nonsense://x",),
    ),
    Case(
        "worker-data-not-on-this-machine",
        moved_study,
        ["worker", "--storage", "journal://{journal}", "--study", "moved"],
        words=("moved.csv", "--data"),
    ),
    # ---------------------------------------------------------------- report / ui / runs
    Case(
        "report-folder-without-summary",
        folder("emptyrun"),
        ["report", "--run", "{data}"],
        words=("emptyrun", "summary.json"),
    ),
    Case(
        "report-missing-folder",
        lambda c: {},
        ["report", "--run", "{tmp}/nothere"],
        words=("nothere", ("does not exist", "not found")),
    ),
    Case(
        "report-corrupt-summary",
        lambda c: {"data": runs_with_summary("{half")(c)["out"] / "broken"},
        ["report", "--run", "{data}"],
        words=("summary.json",),
    ),
    Case(
        "report-run-copied-away",
        copy_run,
        ["report", "--run", "{run}"],
        expect="ok",
        why="the summary records the storage URL",
    ),
    Case(
        "report-output-folder-moved",
        moved_output,
        ["report", "--run", "{run}"],
        expect="ok",
        why="the recorded storage is gone, the optuna.db beside the run is the search's",
    ),
    Case("ui-no-mlflow-db", folder("emptyout"), ["ui", "--output", "{data}"], words=("mlflow.db",)),
    Case("ui-missing-output", lambda c: {}, ["ui", "--output", "{tmp}/nothere"], words=("nothere",)),
    Case(
        "runs-empty-folder",
        folder("emptyout"),
        ["runs", "--output", "{data}"],
        expect="ok",
        check=stdout_has("no finished searches"),
    ),
    Case(
        "runs-missing-folder",
        lambda c: {},
        ["runs", "--output", "{tmp}/nothere"],
        words=("nothere", ("does not exist", "not found")),
    ),
    Case(
        "runs-corrupt-summary",
        runs_with_summary("{half"),
        ["runs", "--output", "{out}"],
        expect="warning",
        words=("summary.json",),
        why="list the good ones, warn about the bad file",
    ),
    Case(
        "runs-summary-missing-keys",
        runs_with_summary('{"study": "old"}'),
        ["runs", "--output", "{out}"],
        expect="warning",
        words=("summary.json",),
    ),
]


def _params():
    for case in CASES:
        yield pytest.param(case, id=case.id, marks=case.marks)


@pytest.mark.parametrize("case", _params())
def test_hostile_input(case: Case, tmp_path: Path, request, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # stray default folders (automl-runs/) land in tmp
    ctx = Ctx(tmp_path, request)
    values = {
        "tmp": tmp_path,
        "out": tmp_path / "runs",
        "smoke": SMOKE,
        "pred": tmp_path / "pred.csv",
        "label": "species",
        "_base": tmp_path.parent,
    }
    values.update(case.build(ctx) or {})
    argv = [a.format(**values) if "{" in a else a for a in case.argv]
    outcome = run_cli(argv, capsys, monkeypatch)
    verdict = judge(case, values, outcome)
    if os.environ.get("AUTOML_ROBUSTNESS_SHOW"):  # print what the user saw, pass or fail
        shown = outcome.error_messages()[-1:] or outcome.warning_messages()[-2:]
        with capsys.disabled():
            print(
                f"\n{case.id}: exit {outcome.code}; " + " // ".join(" ".join(m.split())[:300] for m in shown)
            )
    if verdict:
        pytest.fail(f"{verdict}\n  argv: automl {' '.join(argv)}\n{outcome.describe()}", pytrace=False)


def test_corpus_is_large_and_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert len(ids) >= 70
