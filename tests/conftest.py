import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# Tests run many small fits side by side: one thread each avoids oversubscribing the cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The team's datasets: $AUTOML_DATASETS, else the nearest ``shared/datasets`` above the
    checkout (a worktree or a CI clone can live anywhere). Tests that need it skip without it."""
    if os.environ.get("AUTOML_DATASETS"):
        return Path(os.environ["AUTOML_DATASETS"])
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "datasets").is_dir():
            return parent / "shared" / "datasets"
    pytest.skip("the shared datasets are not here (set $AUTOML_DATASETS to the folder)")


@pytest.fixture(scope="session")
def _pristine_logger():
    from automl.logger import log

    return list(log.handlers), log.level, log.propagate


@pytest.fixture(autouse=True)
def _restore_library_logger(_pristine_logger):
    """The CLI configures the library logger (its handler, level, no propagation); a test or a
    module fixture that runs it in-process must not change how later tests capture logs."""
    from automl.logger import log

    handlers, level, propagate = _pristine_logger
    log.handlers[:], log.level, log.propagate = list(handlers), level, propagate
    yield
    log.handlers[:], log.level, log.propagate = list(handlers), level, propagate


TINY_TEXT = "tiny_test_bert"
POS = [
    "a wonderful , moving film",
    "great acting and a lovely story",
    "i loved every minute of it",
    "a delight from start to finish",
    "funny , warm and smart",
    "the best film this year",
    "superb cast , great fun",
    "beautiful and touching work",
]
NEG = [
    "a dull , boring mess",
    "i hated the plot",
    "the worst film this year",
    "tedious and far too long",
    "awful acting , weak script",
    "a boring and stupid film",
    "nothing works in this dull film",
    "painful to sit through",
]


TINY_IMAGE = "tiny_test_resnet"


@pytest.fixture(scope="module")
def tiny_image_backbone(tmp_path_factory):
    """timm's test_resnet with random weights, found through $AUTOML_WEIGHTS_DIR as an explicit
    local weight file (the route users take too)."""
    import timm
    import torch

    from automl.components.images.backbones import BACKBONES, BackboneInfo

    if TINY_IMAGE not in BACKBONES:
        BACKBONES.register(
            TINY_IMAGE,
            BackboneInfo(
                name=TINY_IMAGE,
                arch="test_resnet",
                params_m=0.01,
                input_size=64,
                mean=(0.5,) * 3,
                std=(0.5,) * 3,
                licence="test",
                width=96,
            ),
        )
    weights = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    torch.save(timm.create_model("test_resnet").state_dict(), weights / f"{TINY_IMAGE}.pth")
    old = os.environ.get("AUTOML_WEIGHTS_DIR")
    os.environ["AUTOML_WEIGHTS_DIR"] = str(weights)
    yield TINY_IMAGE
    BACKBONES.unregister(TINY_IMAGE)
    if old is None:
        os.environ.pop("AUTOML_WEIGHTS_DIR")
    else:
        os.environ["AUTOML_WEIGHTS_DIR"] = old


@pytest.fixture
def toy_reviews():
    """16 short reviews, 8 per sentiment: (texts, labels)."""
    return np.array(POS + NEG, dtype=object), np.array(["pos"] * len(POS) + ["neg"] * len(NEG))


@pytest.fixture
def tiny_text_encoder(tmp_path_factory):
    """A 2-layer, 32-d BERT with random weights and a small word-level vocabulary, saved as a
    local model folder and found through $AUTOML_TEXT_MODELS, the route users take too."""
    import os

    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("text_models")
    words = sorted({w for t in POS + NEG for w in t.split()} | {"movie", "plot", "great", "good"})
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    torch.manual_seed(0)
    model = BertModel(
        BertConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
        )
    )
    fast.save_pretrained(root / TINY_TEXT)
    model.save_pretrained(root / TINY_TEXT)
    from automl.components.text.encoders import ENCODERS, EncoderInfo

    if TINY_TEXT not in ENCODERS:
        ENCODERS.register(TINY_TEXT, EncoderInfo(TINY_TEXT, "none/none", 0.1, 32, "test"))
    old = os.environ.get("AUTOML_TEXT_MODELS")
    os.environ["AUTOML_TEXT_MODELS"] = str(root)
    yield TINY_TEXT
    ENCODERS.unregister(TINY_TEXT)  # later tests must see only the real encoders
    if old is None:
        os.environ.pop("AUTOML_TEXT_MODELS")
    else:
        os.environ["AUTOML_TEXT_MODELS"] = old


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
