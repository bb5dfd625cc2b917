"""Self-supervised continued pretraining: MLM on a tiny random BERT, SimCLR and MoCo on a tiny
random timm backbone (fast); the real MiniLM on SST-2 sentences in a slow test."""

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("timm")
from PIL import Image

from automl.components.base import FEATURES, LEARNERS, BuildContext
from automl.components.images.backbones import create_backbone
from automl.components.pretrain.base import SSL_METHODS, chosen_method
from automl.components.pretrain.checkpoint import MEASURE_STEPS, adapted_checkpoint, read_meta
from automl.components.pretrain.image_contrastive import adapt_image_backbone
from automl.components.pretrain.text_mlm import adapt_text_encoder, mask_tokens
from automl.components.runtime import Runtime, Unaffordable
from automl.components.text.encoders import load_model
from automl.data.dataset import Modality
from automl.data.profile import DataProfile
from automl.exceptions import SearchSpaceError
from automl.space.preset import load_space
from automl.space.sample import start_points

WORDS = "a the film movie plot great good dull boring lovely story acting awful funny warm".split()


def pool_texts(n: int = 40, seed: int = 1) -> np.ndarray:
    """Unlabelled sentences in the tiny encoder's vocabulary, none equal to a labelled review."""
    rng = np.random.default_rng(seed)
    return np.array([" ".join(rng.choice(WORDS, 6)) for _ in range(n)], dtype=object)


def state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def changed(a: dict, b: dict) -> bool:
    return any(not np.allclose(a[k].float().numpy(), b[k].float().numpy()) for k in a)


def pool_images(root: Path, n: int = 12) -> np.ndarray:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return np.array(sorted(str(p) for p in root.glob("*.png")), dtype=object)


def test_mlm_changes_the_encoder_and_writes_a_loadable_folder(tiny_text_encoder, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    folder = adapt_text_encoder(tiny_text_encoder, pool_texts(), epochs=2, cache_dir=str(tmp_path))
    assert (folder / "config.json").is_file() and (folder / "loss.png").is_file()
    losses = json.loads((folder / "loss.json").read_text())
    meta = read_meta(folder)
    # 40 sentences in batches of 32 is 2 steps per epoch.
    assert len(losses) == meta["steps"] == 4 and all(np.isfinite(losses))
    assert meta["pool_items"] == 40 and meta["method"] == "mlm" and not meta["stopped_early"]
    adapted = AutoModel.from_pretrained(folder)
    AutoTokenizer.from_pretrained(folder)  # a standalone folder: the tokenizer travels with it
    assert changed(state(load_model(tiny_text_encoder)), state(adapted))
    assert not changed(state(adapted), state(load_model(tiny_text_encoder, str(folder))))


def test_second_adaptation_is_a_cache_hit(tiny_text_encoder, tmp_path, monkeypatch):
    pool = pool_texts()
    first = adapt_text_encoder(tiny_text_encoder, pool, cache_dir=str(tmp_path))
    mtime = (first / "model.safetensors").stat().st_mtime_ns

    def must_not_train(*args, **kwargs):
        raise AssertionError("retrained a cached adaptation")

    monkeypatch.setitem(SSL_METHODS._items, "mlm", replace(SSL_METHODS.get("mlm"), train=must_not_train))
    # Same pool listed in another order, with a duplicate: same content, same checkpoint.
    again = adapt_text_encoder(
        tiny_text_encoder, np.concatenate([pool[::-1], pool[:3]]), cache_dir=str(tmp_path)
    )
    assert again == first and (again / "model.safetensors").stat().st_mtime_ns == mtime
    with pytest.raises(AssertionError, match="retrained"):  # other pool content: a new key
        adapt_text_encoder(tiny_text_encoder, pool[:-1], cache_dir=str(tmp_path))


def test_concurrent_requests_train_once(tmp_path):
    calls, go = [], threading.Event()

    def train(folder, run):
        calls.append(1)
        go.wait(5)
        (folder / "weights").write_text("w")
        run.log_step(1.0)

    parts = {"method": "x", "backbone": "b", "epochs": 1}
    out = []
    workers = [
        threading.Thread(
            target=lambda: out.append(adapted_checkpoint(str(tmp_path), parts, ["k1"], train, None))
        )
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    threading.Timer(0.3, go.set).start()
    for w in workers:
        w.join(10)
    assert len(calls) == 1 and len(out) == 2 and out[0] == out[1]
    assert not list((tmp_path / "artifacts").glob(".*"))  # no half-written folder left behind


def test_masking_follows_bert_rule():
    import torch

    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(10, 1000, (200, 64), generator=gen)
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, 0] = False  # [CLS] is never a target
    new, labels = mask_tokens(ids, maskable, mask_id=4, vocab=1000, gen=gen)
    chosen = labels != -100
    assert not chosen[:, 0].any()
    assert chosen.float().mean().item() == pytest.approx(0.15 * 63 / 64, abs=0.01)
    as_mask = (new == 4)[chosen].float().mean().item()
    kept = (new == ids)[chosen].float().mean().item()
    assert as_mask == pytest.approx(0.8, abs=0.03) and kept == pytest.approx(0.1, abs=0.03)
    assert torch.equal(new[~chosen], ids[~chosen])


def test_text_embed_loads_adapted_encoder_and_caches_apart(tiny_text_encoder, toy_reviews, tmp_path):
    X, _ = toy_reviews
    prof = DataProfile("text", 16, 2, {"neg": 8, "pos": 8}, n_unlabelled=40)
    rt = Runtime(cache_dir=str(tmp_path), unlabelled=pool_texts())
    ctx = BuildContext(profile=prof)
    info = FEATURES.get("text_embed")
    params = {"encoder": tiny_text_encoder, "max_length": 64}
    stock = info.build(params, ctx).set_runtime(rt).fit(X)
    adapted = info.build({**params, "ssl.method": "mlm", "ssl.epochs": 1}, ctx).set_runtime(rt).fit(X)
    assert stock.adapted_key_ is None and (tmp_path / "artifacts" / adapted.adapted_key_).is_dir()
    assert stock._config() != adapted._config()
    assert not np.allclose(stock.transform(X), adapted.transform(X))
    assert len(list((tmp_path / "embeddings").iterdir())) == 2  # one table each


@pytest.mark.parametrize("method", ["simclr", "moco"])
def test_contrastive_adaptation_of_image_backbone(tiny_image_backbone, tmp_path, method):
    paths = pool_images(tmp_path / "pool")
    folder = adapt_image_backbone(
        tiny_image_backbone, paths, method=method, epochs=2, resolution=32, cache_dir=str(tmp_path / "cache")
    )
    meta = read_meta(folder)
    assert meta["steps"] == 2 and len(json.loads((folder / "loss.json").read_text())) == 2
    assert (folder / "loss.png").is_file()
    adapted = create_backbone(tiny_image_backbone, weights=str(folder))
    assert changed(state(create_backbone(tiny_image_backbone)), state(adapted))


def test_image_components_load_the_adapted_backbone(tiny_image_backbone, tmp_path):
    X = pool_images(tmp_path / "labelled")
    prof = DataProfile("image", 12, 2, {"blue": 6, "red": 6}, n_unlabelled=12)
    rt = Runtime(cache_dir=str(tmp_path / "cache"), unlabelled=pool_images(tmp_path / "pool"))
    ctx = BuildContext(profile=prof, runtime=rt)
    params = {"backbone": tiny_image_backbone, "resolution": 32, "ssl.method": "simclr", "ssl.epochs": 1}
    embed = FEATURES.get("image_embed").build(params, ctx).set_runtime(rt).fit(X)
    assert (tmp_path / "cache" / "artifacts" / embed.adapted_key_).is_dir()
    stock = FEATURES.get("image_embed").build({**params, "ssl.method": "none"}, ctx).set_runtime(rt).fit(X)
    assert not np.allclose(embed.transform(X), stock.transform(X))
    tuner = LEARNERS.get("image_finetune").build({**params, "epochs": 1}, ctx).set_runtime(rt)
    assert tuner.fit(X, np.array(["a", "b"] * 6)).predict(X).shape == (12,)


@pytest.mark.parametrize("modality", ["text", "image"])
def test_ssl_params_only_with_a_pool(modality):
    no_pool = DataProfile(modality, 32, 2, {"a": 16, "b": 16})
    space = load_space(None, no_pool)
    every = {**space.learners, **space.features}
    assert not any(k.startswith("ssl.") for d in every.values() for k in d)
    assert not any("ssl." in k for p in start_points(space, no_pool) for k in p)
    assert any("self-supervised" in n and "--unlabelled" in n for n in space.notes)
    pooled = replace(no_pool, n_unlabelled=100)
    space = load_space(None, pooled)
    assert "ssl.method" in space.features[f"{modality}_embed"]
    assert any("self-supervised" in s for s in space.strategies())
    # Images start with a SimCLR probe; text has no MLM start point (MLM lowered the MiniLM
    # probe in CV), only the choice in the space.
    tried = {v for p in start_points(space, pooled) for v in p.values()}
    assert ("simclr" in tried) == (modality == "image") and "mlm" not in tried


def test_choosing_ssl_without_a_pool_names_the_fix():
    with pytest.raises(SearchSpaceError, match="--unlabelled"):
        chosen_method("mlm", None, Modality.TEXT)
    with pytest.raises(SearchSpaceError, match="image backbones"):
        chosen_method("simclr", ["x"], Modality.TEXT)
    assert chosen_method("none", None, Modality.TEXT) is None


@pytest.mark.slow
def test_real_minilm_mlm_on_sst2_sentences(tmp_path, shared_datasets):
    import pandas as pd
    import torch

    from automl.components.text.encoders import ENCODERS

    if ENCODERS.get("minilm").available():
        pytest.skip("MiniLM is not available offline")
    torch.set_num_threads(1)
    csv = shared_datasets / "sst2-few" / "unlabelled.csv"
    if not csv.is_file():
        pytest.skip(f"{csv} is not here (set $AUTOML_DATASETS to the shared datasets folder)")
    texts = pd.read_csv(csv)["text"].to_numpy(dtype=object)
    folder = adapt_text_encoder("minilm", texts, epochs=1, cache_dir=str(tmp_path), max_items=200)
    losses = json.loads((folder / "loss.json").read_text())
    assert len(losses) == 7 and np.mean(losses[-3:]) < losses[0]
    assert changed(state(load_model("minilm")), state(load_model("minilm", str(folder))))


def _paced_train(seconds_per_step: float, steps_per_epoch: int):
    def train(folder, run):
        run.plan(steps_per_epoch)
        for _ in range(steps_per_epoch):
            if run.out_of_time():
                return
            time.sleep(seconds_per_step)
            run.log_step(1.0)
        (folder / "weights").write_text("w")

    return train


def test_an_adaptation_whose_first_epoch_cannot_fit_is_skipped_and_not_cached(tmp_path):
    parts = {"method": "x", "backbone": "b", "epochs": 1}
    # 200 steps of 20 ms: ~4 s an epoch, measured over the first steps, against a 1 s limit.
    with pytest.raises(Unaffordable, match="one epoch"):
        adapted_checkpoint(str(tmp_path), parts, ["k1"], _paced_train(0.02, 200), 1.0)
    assert not [p for p in (tmp_path / "artifacts").iterdir() if not p.name.endswith(".lock")]
    # An epoch that fits is trained and cached.
    folder = adapted_checkpoint(str(tmp_path), parts, ["k1"], _paced_train(0.02, 10), 1.0)
    assert read_meta(folder)["steps"] == 10 and not read_meta(folder)["stopped_early"]


def test_an_adaptation_that_hits_its_limit_inside_the_first_epoch_is_skipped(tmp_path):
    parts = {"method": "x", "backbone": "b", "epochs": 1}
    # A slow first step: the limit passes before a second step could show the pace.
    with pytest.raises(Unaffordable, match="first epoch"):
        adapted_checkpoint(str(tmp_path), parts, ["k1"], _paced_train(1.1, 20), 1.0)
    assert not [p for p in (tmp_path / "artifacts").iterdir() if not p.name.endswith(".lock")]


@pytest.mark.parametrize("seconds_per_step, stopped_after", [(0.1, 2), (0.02, MEASURE_STEPS + 1)])
def test_a_pace_far_over_the_limit_is_skipped_after_two_steps(tmp_path, seconds_per_step, stopped_after):
    """An epoch projected at CLEAR_MARGIN times the limit or more is skipped as soon as two steps
    show the pace (100 ms x 100 steps: ~10 s against 1 s); one just over it (20 ms x 75 steps:
    ~1.5 s) still waits for the full measurement, the variant the early stop differs from."""
    steps: list[int] = []

    def train(folder, run):
        run.plan(100 if seconds_per_step == 0.1 else 75)
        for i in range(run.epoch_steps):
            time.sleep(seconds_per_step)
            steps.append(i)
            run.log_step(1.0)

    with pytest.raises(Unaffordable, match="one epoch"):
        adapted_checkpoint(str(tmp_path), {"method": "x", "backbone": "b", "epochs": 1}, ["k1"], train, 1.0)
    assert len(steps) == stopped_after
