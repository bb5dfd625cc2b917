"""At what resolution a backbone sees the images, chosen from their size in the profile.

The backbones were pretrained at 224-260 px, and on 2 CPU cores a forward pass costs about
(resolution / 128)^2. An image a few dozen pixels wide holds no detail that a 4x upscale does
not already show, so larger inputs only cost; a photo of several hundred pixels loses detail
below 160 px. The rule follows from those two facts, not from any dataset's score.
"""

from __future__ import annotations

from automl.data.profile import DataProfile
from automl.space.domains import CategoricalDomain

RESOLUTIONS = (96, 128, 160, 224)


def native_side(profile: DataProfile) -> int:
    """The median image's shorter side in pixels (224 when the profile does not say)."""
    w = profile.extras.get("image_width_median")
    h = profile.extras.get("image_height_median")
    return int(min(w, h)) if w and h else 224


def resolution_domain(profile: DataProfile) -> CategoricalDomain:
    side = native_side(profile)
    if side <= 64:  # thumbnails, CIFAR, digits: upscaled 1.5-5x
        return CategoricalDomain((96, 128, 160))
    if side <= 160:
        return CategoricalDomain((128, 160, 224))
    return CategoricalDomain((160, 224))


def default_resolution(profile: DataProfile) -> int:
    """Small images: 128 px (about 4x a 32 px image, a third of 224 px's cost); mid-sized:
    their own size rounded up; photos: the backbones' pretraining resolution."""
    side = native_side(profile)
    if side <= 64:
        return 128
    return 160 if side <= 160 else 224
