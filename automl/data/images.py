"""Image folders (one sub-folder per class): jpg, png, webp, bmp, gif (first frame)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from automl.data.dataset import Dataset, Modality
from automl.data.folders import duplicates_across_classes, scan_class_folders, scan_flat_folder
from automl.exceptions import DataError
from automl.logger import log

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}
# Below 16 px a side there is too little to see, even for a backbone that upsamples.
MIN_SIDE = 16


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise DataError('Reading images needs Pillow: pip install "automl[image]".') from None
    return Image


def check_image(path: Path) -> str | None:
    Image = _pil()
    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:  # verify() leaves the file unusable; reopen to size it
            w, h = im.size
    except Exception as e:
        return f"unreadable: {type(e).__name__}"
    if min(w, h) < MIN_SIDE:
        return f"too small ({w}x{h}; need at least {MIN_SIDE} px a side)"
    return None


def read_rgb(path: str):
    """An RGB PIL image: grayscale, RGBA (on white), palette and CMYK converted; gif frame 0."""
    Image = _pil()
    with Image.open(path) as im:
        im.seek(0)
        if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            background = Image.new("RGB", im.size, (255, 255, 255))
            background.paste(im, mask=im.split()[-1])
            return background
        return im.convert("RGB")


def image_sizes(paths) -> np.ndarray:
    Image = _pil()
    sizes = []
    for p in paths:
        with Image.open(p) as im:
            sizes.append(im.size)
    return np.array(sizes)


def load_image_folder(path: Path, unlabelled: Path | None = None) -> Dataset:
    paths, labels, notes = scan_class_folders(path, IMAGE_SUFFIXES, check_image, "image")
    clashes = duplicates_across_classes(paths, labels)
    if clashes:
        raise DataError(
            f"{len(clashes)} image(s) appear in more than one class folder, e.g. "
            f"{clashes[0]}. Keep each image in its one correct class."
        )
    sizes = image_sizes(paths)
    facts = {
        "image_width_median": int(np.median(sizes[:, 0])),
        "image_height_median": int(np.median(sizes[:, 1])),
        "image_side_min": int(sizes.min()),
    }
    pool = None
    if unlabelled is not None:
        pool, pool_notes = scan_flat_folder(unlabelled, IMAGE_SUFFIXES, check_image, "image")
        notes += pool_notes
        pool_sizes = image_sizes(pool[:200])
        ratio = np.median(pool_sizes.min(1)) / max(1, np.median(sizes.min(1)))
        if not 0.5 <= ratio <= 2:
            notes.append(
                f"Unlabelled images are {ratio:.1f}x the size of labelled ones "
                "(median shorter side): they may come from another domain."
            )
            log.warning(notes[-1])
    return Dataset(Modality.IMAGE, paths, labels, str(path), unlabelled=pool, notes=tuple(notes), facts=facts)


def load_image_inputs(path: Path) -> np.ndarray:
    paths, _ = scan_flat_folder(Path(path), IMAGE_SUFFIXES, check_image, "image")
    return paths
