"""Audio folders (one sub-folder per class): wav/flac/ogg, and mp3 where libsndfile decodes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from automl.data.dataset import Dataset, Modality
from automl.data.folders import duplicates_across_classes, scan_class_folders, scan_flat_folder
from automl.exceptions import DataError, first_line
from automl.logger import log

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3"}
# Peak amplitude below this (about -80 dBFS) is silence: nothing to classify.
SILENCE_PEAK = 1e-4
# Clips that differ in length by more than this factor get a note: the fixed analysis window
# will crop the long ones or mostly pad the short ones.
DURATION_SPREAD = 10.0


def _soundfile():
    try:
        import soundfile
    except ImportError:
        raise DataError('Reading audio needs the soundfile package: pip install "automl[audio]".') from None
    return soundfile


def check_clip(path: Path) -> str | None:
    sf = _soundfile()
    try:
        data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        return f"unreadable: {first_line(e, 80)}"
    if data.size == 0:
        return "empty"
    if float(np.abs(data).max()) < SILENCE_PEAK:
        return "silence only"
    return None


def clip_durations(paths) -> np.ndarray:
    sf = _soundfile()
    return np.array([sf.info(p).duration for p in paths])


def load_audio_folder(path: Path, unlabelled: Path | None = None) -> Dataset:
    paths, labels, notes = scan_class_folders(path, AUDIO_SUFFIXES, check_clip, "audio")
    clashes = duplicates_across_classes(paths, labels)
    if clashes:
        raise DataError(
            f"{len(clashes)} clip(s) appear in more than one class folder, e.g. "
            f"{clashes[0]}. Keep each clip in its one correct class."
        )
    durations = clip_durations(paths)
    facts = {
        "duration_median_s": round(float(np.median(durations)), 3),
        "duration_min_s": round(float(durations.min()), 3),
        "duration_max_s": round(float(durations.max()), 3),
        "duration_p90_s": round(float(np.percentile(durations, 90)), 3),
        "sample_rates": sorted({int(_soundfile().info(p).samplerate) for p in paths}),
    }
    if durations.max() > DURATION_SPREAD * max(durations.min(), 1e-3):
        notes.append(
            f"Clip lengths range from {durations.min():.2f}s to {durations.max():.2f}s; "
            "the analysis window is searched around the median "
            f"({facts['duration_median_s']:.2f}s), so long clips are cropped."
        )
        log.warning(notes[-1])
    pool = None
    if unlabelled is not None:
        pool, pool_notes = scan_flat_folder(unlabelled, AUDIO_SUFFIXES, check_clip, "audio")
        notes += pool_notes
    return Dataset(Modality.AUDIO, paths, labels, str(path), unlabelled=pool, notes=tuple(notes), facts=facts)


def load_audio_inputs(path: Path) -> np.ndarray:
    paths, _ = scan_flat_folder(Path(path), AUDIO_SUFFIXES, check_clip, "audio")
    return paths
