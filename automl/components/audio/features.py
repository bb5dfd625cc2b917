"""Frozen audio features: MFCC/log-mel statistics and pretrained encoder embeddings.

Both are cached per clip (content hash) and per augmented view, so augmentation strength is
searched at cached cost: a view is computed once and reused by every later trial and worker.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from automl.components.audio.encoders import AUDIO_ENCODERS, usable_encoders
from automl.components.audio.signal import SAMPLE_RATE, augment_wave, fit_length, load_wave, log_mel
from automl.components.audio.window import clip_domain, default_clip_seconds
from automl.components.availability import has_modules
from automl.components.base import BuildContext, ComponentInfo, register
from automl.components.features.cached import CachedViewFeaturizer
from automl.data.dataset import Modality
from automl.data.profile import DataProfile
from automl.space.domains import CategoricalDomain, FloatDomain, IntDomain

FEATURE_VERSION = 1  # bump when the computation changes, so old cache entries are not reused


class ClipFeaturizer(CachedViewFeaturizer):
    """Clip paths -> vectors over a fixed window; subclasses implement ``_vector(wave)``."""

    def _vector(self, wave: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _compute(self, items, view, seeds):
        n = int(round(self.clip_seconds * SAMPLE_RATE))
        out = []
        for path, seed in zip(items, seeds):
            wave = load_wave(path)
            if view:
                wave = augment_wave(wave, np.random.default_rng(seed), self.strength)
            out.append(self._vector(fit_length(wave, n)))
        return np.stack(out)


class MfccStats(ClipFeaturizer):
    def __init__(
        self,
        n_mfcc: int = 20,
        clip_seconds: float = 1.0,
        views: int = 0,
        strength: float = 0.0,
        seed: int = 0,
    ):
        self.n_mfcc = n_mfcc
        self.clip_seconds = clip_seconds
        self.views = views
        self.strength = strength
        self.seed = seed

    def _config(self):
        return {
            "kind": "mfcc",
            "version": FEATURE_VERSION,
            "n_mfcc": self.n_mfcc,
            "clip_seconds": round(self.clip_seconds, 3),
        }

    def _vector(self, wave):
        import librosa

        mel = log_mel(wave)
        mfcc = librosa.feature.mfcc(S=mel, n_mfcc=self.n_mfcc)
        delta = librosa.feature.delta(mfcc, width=5) if mfcc.shape[1] >= 5 else np.zeros_like(mfcc)
        parts = [mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1), mel.mean(1), mel.std(1)]
        # Coarse temporal shape: MFCC means over thirds of the clip (word onsets differ).
        for third in np.array_split(mfcc, 3, axis=1):
            parts.append(third.mean(1) if third.size else np.zeros(self.n_mfcc))
        return np.concatenate(parts).astype(np.float32)


class EncoderEmbedding(ClipFeaturizer):
    def __init__(
        self,
        encoder: str = "resemblyzer",
        clip_seconds: float = 1.0,
        views: int = 0,
        strength: float = 0.0,
        seed: int = 0,
    ):
        self.encoder = encoder
        self.clip_seconds = clip_seconds
        self.views = views
        self.strength = strength
        self.seed = seed

    def _config(self):
        return {
            "kind": "encoder",
            "version": FEATURE_VERSION,
            "encoder": self.encoder,
            "clip_seconds": round(self.clip_seconds, 3),
        }

    def _vector(self, wave):
        return np.asarray(AUDIO_ENCODERS.get(self.encoder).load()(wave), dtype=np.float32)


def _augment_space() -> dict:
    return {"augment.views": IntDomain(0, 4), "augment.strength": FloatDomain(0.0, 1.0)}


def _shared(params: dict[str, Any], ctx: BuildContext) -> dict[str, Any]:
    return {
        "clip_seconds": params.get("clip_seconds", 1.0),
        "views": params.get("augment.views", 0),
        "strength": params.get("augment.strength", 0.0),
        "seed": ctx.seed,
    }


def _defaults(profile: DataProfile) -> dict[str, Any]:
    return {"clip_seconds": default_clip_seconds(profile), "augment.views": 0, "augment.strength": 0.0}


register(
    ComponentInfo(
        name="audio_mfcc",
        kind="features",
        summary="MFCC, delta and log-mel statistics over a fixed window",
        modalities=frozenset({Modality.AUDIO}),
        space=lambda p: {"n_mfcc": IntDomain(13, 40), "clip_seconds": clip_domain(p), **_augment_space()},
        build=lambda params, ctx: MfccStats(n_mfcc=params.get("n_mfcc", 20), **_shared(params, ctx)),
        defaults=lambda p: {"n_mfcc": 20, **_defaults(p)},
        cost=0,
        available=lambda: (
            None
            if has_modules("librosa", "soundfile")
            else "librosa and soundfile are needed: pip install 'automl[audio]'"
        ),
    )
)


register(
    ComponentInfo(
        name="audio_embed",
        kind="features",
        summary="frozen pretrained speech-encoder embeddings",
        modalities=frozenset({Modality.AUDIO}),
        space=lambda p: {
            "encoder": CategoricalDomain(tuple(usable_encoders()) or ("resemblyzer",)),
            "clip_seconds": clip_domain(p),
            **_augment_space(),
        },
        build=lambda params, ctx: EncoderEmbedding(
            encoder=params.get("encoder", "resemblyzer"), **_shared(params, ctx)
        ),
        defaults=lambda p: {"encoder": (usable_encoders() or ["resemblyzer"])[0], **_defaults(p)},
        cost=1,
        strategy="transfer",
        available=lambda: (
            None
            if usable_encoders()
            else "no pretrained audio encoder is available offline (pip install resemblyzer webrtcvad-wheels)"
        ),
    )
)
