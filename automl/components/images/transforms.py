"""Preprocessing and searched augmentation for images (torchvision transforms v2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentSpec:
    """Augmentation knobs, each 'off' at its neutral value."""

    crop_scale: float = 1.0  # RandomResizedCrop lower scale bound; 1.0 = no crop
    flip: bool = False
    jitter: float = 0.0  # colour jitter strength (brightness/contrast/saturation)
    trivial: bool = False  # TrivialAugmentWide (a tuning-free RandAugment)
    mixup: float = 0.0  # Mixup alpha (batch level, fine-tuning only)
    cutmix: float = 0.0  # CutMix alpha (batch level, fine-tuning only)

    @classmethod
    def from_strength(cls, strength: float) -> AugmentSpec:
        """One knob for cached views of frozen-feature learners: 0 none, 1 strong."""
        return cls(crop_scale=1.0 - 0.6 * strength, flip=strength > 0, jitter=0.4 * strength)


def eval_transform(resolution: int, mean, std):
    import torch
    from torchvision.transforms import v2 as T

    return T.Compose(
        [
            T.ToImage(),
            T.Resize((resolution, resolution), antialias=True),
            T.ToDtype(torch.float32, scale=True),
            T.Normalize(mean, std),
        ]
    )


def train_transform(resolution: int, mean, std, aug: AugmentSpec):
    import torch
    from torchvision.transforms import v2 as T

    steps = [T.ToImage()]
    if aug.crop_scale < 1.0:
        steps.append(T.RandomResizedCrop(resolution, scale=(aug.crop_scale, 1.0), antialias=True))
    else:
        steps.append(T.Resize((resolution, resolution), antialias=True))
    if aug.flip:
        steps.append(T.RandomHorizontalFlip())
    if aug.trivial:
        steps.append(T.TrivialAugmentWide())
    if aug.jitter > 0:
        steps.append(T.ColorJitter(aug.jitter, aug.jitter, aug.jitter))
    steps += [T.ToDtype(torch.float32, scale=True), T.Normalize(mean, std)]
    return T.Compose(steps)


def mix_batch(x, y_onehot, aug: AugmentSpec, rng: np.random.Generator):
    """Mixup or CutMix (chosen at random when both are on) on a batch; returns mixed x, y."""
    import torch

    kinds = [k for k, a in (("mixup", aug.mixup), ("cutmix", aug.cutmix)) if a > 0]
    if not kinds or len(x) < 2:
        return x, y_onehot
    kind = kinds[int(rng.integers(len(kinds)))]
    alpha = aug.mixup if kind == "mixup" else aug.cutmix
    lam = float(rng.beta(alpha, alpha))
    perm = torch.as_tensor(rng.permutation(len(x)))
    if kind == "mixup":
        x = lam * x + (1 - lam) * x[perm]
    else:
        h, w = x.shape[-2:]
        ch, cw = int(h * np.sqrt(1 - lam)), int(w * np.sqrt(1 - lam))
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
        x = x.clone()
        x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    return x, lam * y_onehot + (1 - lam) * y_onehot[perm]
