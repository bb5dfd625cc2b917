"""Frozen backbone embeddings, cached per image and per augmented view."""

from __future__ import annotations

from typing import Any

import numpy as np

from automl.components.base import ComponentInfo, defaults_of, estimator_builder, register
from automl.components.features.cached import CachedViewFeaturizer
from automl.components.frozen import ModelCache
from automl.components.images import onnx_runtime
from automl.components.images.backbones import (
    BACKBONES,
    backbones_unavailable,
    create_backbone,
    usable_backbones,
)
from automl.components.images.scale import default_resolution, resolution_domain
from automl.components.images.transforms import AugmentSpec, eval_transform, train_transform
from automl.components.pretrain.base import SSL_NAMES, ssl_space
from automl.components.pretrain.image_contrastive import adapted_backbone, adapted_state
from automl.components.runtime import set_threads
from automl.data.dataset import Modality
from automl.data.images import read_rgb
from automl.data.profile import DataProfile
from automl.space.domains import CategoricalDomain, FloatDomain, IntDomain

_FROZEN = ModelCache(size=2)


def frozen_backbone(name: str, device: str, adapted_key: str | None = None, state: dict | None = None):
    """The backbone for inference, in channels-last memory layout: on a CPU its convolutions
    ran 1.5-1.8x faster that way (EfficientNet-Lite0, 128 px, benchmarks/bench_inference.py),
    with outputs equal to 2e-5."""
    import torch

    model = _FROZEN.frozen(name, device, lambda: create_backbone(name), adapted_key, state)
    return model.to(memory_format=torch.channels_last)


class ImageEmbedding(CachedViewFeaturizer):
    def __init__(
        self,
        backbone: str = "efficientnet_lite0",
        resolution: int = 128,
        views: int = 0,
        strength: float = 0.0,
        seed: int = 0,
        batch_size: int = 64,
        ssl_method: str = "none",
        ssl_epochs: int = 1,
    ):
        self.backbone = backbone
        self.resolution = resolution
        self.views = views
        self.strength = strength
        self.seed = seed
        self.batch_size = batch_size
        self.ssl_method = ssl_method
        self.ssl_epochs = ssl_epochs

    def fit(self, X, y=None):
        # An SSL-adapted backbone is trained on the runtime's pool (or read from the cache) and
        # its weights kept in the fitted featuriser, so a saved model needs no cache folder.
        folder = adapted_backbone(self.backbone, self.ssl_method, self.ssl_epochs, self.seed, self.runtime)
        self.adapted_key_ = folder.name if folder is not None else None
        self.adapted_state_ = adapted_state(folder) if folder is not None else None
        return self

    def _config(self) -> dict[str, Any]:
        source, how = BACKBONES.get(self.backbone).weights()
        # The adapted checkpoint's key names its embeddings' table. Stock embeddings keep the
        # key they always had.
        key = getattr(self, "adapted_key_", None)
        adapted = {"adapted": key} if key else {}
        # ONNX Runtime changes outputs by ~1e-5: its rows get their own key. (Batches too small
        # to pay for the export are computed in PyTorch under it; the two agree within the
        # tolerance checked at export.)
        ort = {"runtime": "onnxruntime"} if onnx_runtime.enabled(self.runtime.device) else {}
        return {
            "kind": "image",
            "layout": "channels-last",
            **ort,
            "backbone": self.backbone,
            "weights": how,
            "resolution": self.resolution,
            "preprocess": "resize-square-v1",
            **adapted,
        }

    def _compute(self, items, view, seeds):
        import torch

        device = self.runtime.device
        set_threads(self.runtime.n_jobs)
        info = BACKBONES.get(self.backbone)
        model = frozen_backbone(
            self.backbone, device, getattr(self, "adapted_key_", None), getattr(self, "adapted_state_", None)
        )
        tf = (
            train_transform(self.resolution, info.mean, info.std, AugmentSpec.from_strength(self.strength))
            if view
            else eval_transform(self.resolution, info.mean, info.std)
        )
        fast = (
            onnx_runtime.ort_forward(
                model,
                (self.backbone, getattr(self, "adapted_key_", None)),
                self.resolution,
                self.runtime.n_jobs,
                items=len(items),
            )
            if onnx_runtime.enabled(device)
            else None
        )
        out = []
        for i in range(0, len(items), self.batch_size):
            batch = []
            for path, seed in zip(items[i : i + self.batch_size], seeds[i : i + self.batch_size]):
                torch.manual_seed(seed)  # the same view of the same image every time
                batch.append(tf(read_rgb(path)))
            with torch.inference_mode():
                if fast is not None:
                    out.append(fast(torch.stack(batch).numpy()))
                    continue
                x = torch.stack(batch).to(device).contiguous(memory_format=torch.channels_last)
                out.append(model(x).cpu().numpy())
        return np.concatenate(out)


def _space(profile: DataProfile) -> dict:
    return {
        "backbone": CategoricalDomain(tuple(usable_backbones()) or ("efficientnet_lite0",)),
        "resolution": resolution_domain(profile),
        "augment.views": IntDomain(0, 4),
        "augment.strength": FloatDomain(0.0, 1.0),
        **ssl_space(Modality.IMAGE, profile),
    }


_NAMES = {
    "backbone": "backbone",
    "resolution": "resolution",
    "augment.views": "views",
    "augment.strength": "strength",
    **SSL_NAMES,
}


register(
    ComponentInfo(
        name="image_embed",
        kind="features",
        summary="frozen pretrained backbone embeddings (cached), with cached augmented views",
        modalities=frozenset({Modality.IMAGE}),
        space=_space,
        build=estimator_builder(ImageEmbedding, _NAMES),
        # The cheapest usable backbone at the resolution the image size calls for.
        defaults=lambda p: defaults_of(
            ImageEmbedding,
            _NAMES,
            backbone=(usable_backbones() or ["efficientnet_lite0"])[0],
            resolution=default_resolution(p),
        ),
        cost=1,
        strategy="transfer",
        available=backbones_unavailable,
    )
)
