"""Waveforms: decode, mix down, resample, fix the length, augment."""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np

# 16 kHz is what speech encoders (resemblyzer, wav2vec2, Whisper) expect, and it keeps
# everything up to 8 kHz, the band that carries speech.
SAMPLE_RATE = 16000


@lru_cache(maxsize=4096)
def load_wave(path: str, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 at ``sr``; cached because every trial re-reads the same small clips."""
    import soundfile as sf
    from scipy.signal import resample_poly

    data, native = sf.read(path, dtype="float32", always_2d=True)
    wave = data.mean(axis=1)
    if native != sr:
        g = gcd(native, sr)
        wave = resample_poly(wave, sr // g, native // g).astype(np.float32)
    wave.setflags(write=False)
    return wave


def fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    """Centre-crop or symmetrically zero-pad to ``n`` samples."""
    if len(wave) >= n:
        start = (len(wave) - n) // 2
        return wave[start : start + n]
    pad = n - len(wave)
    return np.pad(wave, (pad // 2, pad - pad // 2))


def augment_wave(
    wave: np.ndarray, rng: np.random.Generator, strength: float, sr: int = SAMPLE_RATE
) -> np.ndarray:
    """Random time-stretch, pitch shift, time shift and additive noise, scaled by ``strength``
    in [0, 1]. At 1: +-25% tempo, +-3 semitones, +-0.1 s shift, noise at 10 dB SNR."""
    import librosa

    out = np.asarray(wave, dtype=np.float32)
    if strength <= 0:
        return out
    rate = float(np.exp(rng.uniform(-1, 1) * np.log(1 + 0.25 * strength)))
    out = librosa.effects.time_stretch(out, rate=rate)
    steps = float(rng.uniform(-3, 3) * strength)
    if abs(steps) > 0.05:
        out = librosa.effects.pitch_shift(out, sr=sr, n_steps=steps)
    shift = int(rng.uniform(-0.1, 0.1) * strength * sr)
    out = np.roll(out, shift)
    snr_db = 40 - 30 * strength
    power = float(np.mean(out**2)) + 1e-12
    out = out + rng.normal(0, np.sqrt(power / 10 ** (snr_db / 10)), size=out.shape).astype(np.float32)
    return out.astype(np.float32)


def log_mel(wave: np.ndarray, sr: int = SAMPLE_RATE, n_mels: int = 40) -> np.ndarray:
    """[n_mels, frames] log-mel spectrogram: 25 ms windows every 10 ms."""
    import librosa

    mel = librosa.feature.melspectrogram(y=wave, sr=sr, n_fft=400, hop_length=160, n_mels=n_mels)
    return np.log(mel + 1e-6).astype(np.float32)
