"""Audio folders and features on generated tones and noise (fast, no pretrained weights)."""

from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
pytest.importorskip("librosa")

from automl.components.audio.features import MfccStats  # noqa: E402
from automl.components.audio.signal import augment_wave, fit_length, load_wave  # noqa: E402
from automl.components.runtime import Runtime  # noqa: E402
from automl.data.load import load_dataset, load_inputs  # noqa: E402
from automl.exceptions import DataError  # noqa: E402


def tone(freq: float, seconds: float = 0.5, sr: int = 8000, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    return (0.5 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.normal(size=t.size)).astype(np.float32)


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    root = tmp_path / "clips"
    for label, freq in (("low", 220.0), ("high", 880.0)):
        (root / label).mkdir(parents=True)
        for i in range(6):
            sf.write(root / label / f"{i}.wav", tone(freq * (1 + 0.02 * i), seed=i), 8000)
    return root


def test_folder_loads_with_facts(clips: Path):
    ds = load_dataset(clips)
    assert ds.modality.value == "audio" and len(ds) == 12
    assert sorted(set(ds.y)) == ["high", "low"]
    assert ds.facts["sample_rates"] == [8000]
    assert abs(ds.facts["duration_median_s"] - 0.5) < 0.01


def test_bad_and_silent_clips_are_skipped_and_named(clips: Path):
    (clips / "low" / "broken.wav").write_bytes(b"RIFF not really a wav")
    sf.write(clips / "high" / "quiet.wav", np.zeros(4000, dtype=np.float32), 8000)
    ds = load_dataset(clips)
    assert len(ds) == 12
    notes = " ".join(ds.notes)
    assert "broken.wav (unreadable" in notes and "quiet.wav (silence only)" in notes


def test_same_clip_in_two_classes_is_an_error(clips: Path):
    (clips / "high" / "dup.wav").write_bytes((clips / "low" / "0.wav").read_bytes())
    with pytest.raises(DataError, match="more than one class folder"):
        load_dataset(clips)


def test_no_class_folders(tmp_path: Path):
    (tmp_path / "flat").mkdir()
    sf.write(tmp_path / "flat" / "a.wav", tone(440), 8000)
    with pytest.raises(DataError, match="no class sub-folders"):
        load_dataset(tmp_path / "flat")


def test_resample_mono_and_length(tmp_path: Path):
    stereo = np.stack([tone(440, sr=22050), tone(440, sr=22050)], axis=1)
    sf.write(tmp_path / "s.wav", stereo, 22050)
    wave = load_wave(str(tmp_path / "s.wav"))
    assert wave.ndim == 1 and abs(len(wave) - 8000) <= 2  # 0.5 s at 16 kHz
    assert len(fit_length(wave, 12000)) == 12000 and len(fit_length(wave, 4000)) == 4000


def test_augmentation_changes_the_wave_deterministically():
    w = tone(440, sr=16000)
    a = augment_wave(w, np.random.default_rng(1), 0.8)
    b = augment_wave(w, np.random.default_rng(1), 0.8)
    assert np.array_equal(a, b) and not np.allclose(a[: len(w)], w[: len(a)])
    assert np.array_equal(augment_wave(w, np.random.default_rng(1), 0.0), w)


def test_mfcc_features_separate_tones_and_cache_views(clips: Path, tmp_path: Path):
    ds = load_dataset(clips)
    rt = Runtime(cache_dir=str(tmp_path / "cache"))
    feat = MfccStats(clip_seconds=0.5, views=2, strength=0.5).set_runtime(rt)
    F = feat.transform(ds.X)
    views = feat.augmented_views(ds.X)
    assert F.shape[0] == 12 and len(views) == 2 and views[0].shape == F.shape
    low, high = F[ds.y == "low"].mean(0), F[ds.y == "high"].mean(0)
    assert np.linalg.norm(low - high) > 1.0
    shards = list((tmp_path / "cache").rglob("*.npz"))
    again = MfccStats(clip_seconds=0.5, views=2, strength=0.5).set_runtime(rt)
    assert np.allclose(again.augmented_views(ds.X)[1], views[1])
    assert list((tmp_path / "cache").rglob("*.npz")) == shards  # served from the cache


def test_predict_inputs_from_folder_or_file(clips: Path):
    assert len(load_inputs(clips, "audio", {})) == 12
    assert len(load_inputs(clips / "low" / "0.wav", "audio", {})) == 1
