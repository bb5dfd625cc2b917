"""Pretrained audio encoders, resolved offline-first. Unavailable ones are left out with a reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from automl.components.availability import has_modules, in_hf_cache
from automl.registry import Registry

Embedder = Callable[[np.ndarray], np.ndarray]  # 16 kHz mono wave -> vector


@dataclass(frozen=True)
class AudioEncoderInfo:
    name: str
    summary: str
    dim: int
    licence: str
    available: Callable[[], str | None]
    load: Callable[[], Embedder]


AUDIO_ENCODERS: Registry[AudioEncoderInfo] = Registry("audio encoder")


def _resemblyzer_available() -> str | None:
    for mod, pkg in (("resemblyzer", "resemblyzer"), ("webrtcvad", "webrtcvad-wheels"), ("torch", "torch")):
        if not has_modules(mod):
            return f"the {mod} module is missing: pip install {pkg}"
    return None


@lru_cache(maxsize=1)
def _load_resemblyzer() -> Embedder:
    from resemblyzer import VoiceEncoder

    encoder = VoiceEncoder(device="cpu", verbose=False)  # weights ship inside the package

    def embed(wave: np.ndarray) -> np.ndarray:
        # No VAD trimming: short words (0.3-1 s) lose too much to it. The encoder slides
        # 1.6 s windows and pads shorter clips.
        return encoder.embed_utterance(np.asarray(wave, dtype=np.float32))

    return embed


AUDIO_ENCODERS.register(
    "resemblyzer",
    AudioEncoderInfo(
        name="resemblyzer",
        summary="GE2E speaker encoder (LSTM, 256-d), weights in the PyPI package",
        dim=256,
        licence="Apache-2.0",
        available=_resemblyzer_available,
        load=_load_resemblyzer,
    ),
)


def _hf_cached(repo_id: str) -> Callable[[], str | None]:
    def check() -> str | None:
        if not has_modules("transformers"):
            return "transformers is not installed: pip install 'automl[text]'"
        if not in_hf_cache(repo_id):
            return (
                f"{repo_id} is not in the local Hugging Face cache (run once with network "
                f'access: python -c "import transformers; transformers.AutoModel.'
                f"from_pretrained('{repo_id}')\")"
            )
        return None

    return check


def _hf_loader(repo_id: str) -> Callable[[], Embedder]:
    @lru_cache(maxsize=1)
    def load() -> Embedder:
        import torch
        from transformers import AutoFeatureExtractor, AutoModel

        extractor = AutoFeatureExtractor.from_pretrained(repo_id, local_files_only=True)
        model = AutoModel.from_pretrained(repo_id, local_files_only=True).eval()

        def embed(wave: np.ndarray) -> np.ndarray:
            inputs = extractor(wave, sampling_rate=16000, return_tensors="pt")
            with torch.no_grad():
                hidden = model(**inputs).last_hidden_state  # [1, frames, dim]
            return hidden.mean(1)[0].numpy()

        return embed

    return load


AUDIO_ENCODERS.register(
    "wav2vec2-base",
    AudioEncoderInfo(
        name="wav2vec2-base",
        summary="facebook/wav2vec2-base, mean-pooled (local HF cache only)",
        dim=768,
        licence="Apache-2.0",
        available=_hf_cached("facebook/wav2vec2-base"),
        load=_hf_loader("facebook/wav2vec2-base"),
    ),
)


def usable_encoders() -> list[str]:
    return [info.name for info in AUDIO_ENCODERS if info.available() is None]
