"""Masked-language-model continued pretraining of a text encoder on the unlabelled pool.

BERT's recipe (Devlin et al., 2019): 15% of the real tokens are chosen; of those 80% become
[MASK], 10% a random token and 10% stay, and the model predicts the originals. Sentence
encoders such as MiniLM ship without an MLM head, so one is built (dense + GELU + LayerNorm +
a decoder whose weight is the input embedding matrix, as in BERT) and trained with the
encoder; only the encoder is saved, as a folder ``AutoModel.from_pretrained`` loads.
Continued pretraining on in-domain text is Gururangan et al.'s (2020) "domain-adaptive
pretraining"; here it is one searched choice, kept only if cross-validation says it helps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from automl.components.pretrain.base import SSLMethodInfo, chosen_method, register_method
from automl.components.pretrain.checkpoint import TrainingRun, adapted_checkpoint, select_pool
from automl.components.runtime import Runtime, one_off_limit, training_autocast
from automl.data.dataset import Modality

MAX_LENGTH = 64  # pool texts are sentences; 64 word pieces cover ~95% of SST-2 reviews
BATCH_SIZE = 32
# 2,000 sentences x 1 epoch = 63 steps of batch 32, ~30-60 s for MiniLM on 2 CPU cores.
MAX_ITEMS = 2000
MASK_P = 0.15
ENCODER_LR = 5e-5  # BERT's fine-tuning rate: adapts without forgetting
HEAD_LR = 5e-4  # the head starts from scratch and must catch up within a few dozen steps


def _mlm_head(hidden: int, vocab: int, eps: float):
    import torch
    import torch.nn as nn

    class MLMHead(nn.Module):
        """BERT's prediction head; the decoder weight is passed in (tied to the embeddings)."""

        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(hidden, hidden)
            self.norm = nn.LayerNorm(hidden, eps=eps)
            self.bias = nn.Parameter(torch.zeros(vocab))

        def forward(self, h, decoder_weight):
            return nn.functional.linear(
                self.norm(nn.functional.gelu(self.dense(h))), decoder_weight, self.bias
            )

    return MLMHead()


def mask_tokens(input_ids, maskable, mask_id: int, vocab: int, gen):
    """(corrupted ids, labels): labels are -100 except at the chosen positions."""
    import torch

    chosen = torch.bernoulli(maskable.float() * MASK_P, generator=gen).bool()
    if not chosen.any():  # a batch of very short texts: still predict one token
        candidates = maskable.nonzero()
        pick = candidates[torch.randint(len(candidates), (1,), generator=gen)][0]
        chosen[pick[0], pick[1]] = True
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    to_mask = torch.bernoulli(torch.full(input_ids.shape, 0.8), generator=gen).bool() & chosen
    to_random = torch.bernoulli(torch.full(input_ids.shape, 0.5), generator=gen).bool() & chosen & ~to_mask
    ids = input_ids.clone()
    ids[to_mask] = mask_id
    ids[to_random] = torch.randint(vocab, (int(to_random.sum()),), generator=gen)
    return ids, labels


def train_mlm(
    model, tokenizer, texts: np.ndarray, run: TrainingRun, epochs: int, seed: int, device: str = "cpu"
) -> None:
    """Continue pretraining ``model`` in place; every step's loss goes to ``run``."""
    import torch
    import torch.nn.functional as F

    if tokenizer.mask_token_id is None:
        raise ValueError(
            "MLM needs a tokenizer with a mask token; this encoder's has none, so "
            "choose ssl.method='none' for it."
        )
    emb = model.get_input_embeddings()
    hidden = model.config.hidden_size
    if emb.weight.shape[1] != hidden:
        raise ValueError(
            f"MLM head: embedding width {emb.weight.shape[1]} differs from hidden "
            f"size {hidden}; factorised embeddings (ALBERT) are not supported."
        )
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    vocab = emb.weight.shape[0]
    head = _mlm_head(hidden, vocab, getattr(model.config, "layer_norm_eps", 1e-12)).to(device)
    per_epoch = int(np.ceil(len(texts) / BATCH_SIZE))
    run.plan(per_epoch)
    total = max(1, epochs * per_epoch)
    warmup = max(1, total // 10)
    opt = torch.optim.AdamW(
        [{"params": model.parameters(), "lr": ENCODER_LR}, {"params": head.parameters(), "lr": HEAD_LR}],
        weight_decay=0.01,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )
    params = list(model.parameters()) + list(head.parameters())
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(texts))
        for i in range(0, len(order), BATCH_SIZE):
            if run.out_of_time():
                break
            batch = tokenizer(
                [str(t) for t in texts[order[i : i + BATCH_SIZE]]],
                padding=True,
                truncation=True,
                max_length=MAX_LENGTH,
                return_tensors="pt",
                return_special_tokens_mask=True,
            )
            maskable = (batch.pop("special_tokens_mask") == 0) & (batch["attention_mask"] == 1)
            if not maskable.any():
                continue
            batch["input_ids"], labels = mask_tokens(
                batch["input_ids"], maskable, tokenizer.mask_token_id, vocab, gen
            )
            batch, labels = batch.to(device), labels.to(device)
            with training_autocast(device):
                states = model(**batch).last_hidden_state
                where = labels != -100
                # Only the ~15% chosen positions go through the 30k-word decoder: 7x cheaper.
                loss = F.cross_entropy(head(states[where], emb.weight), labels[where])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            run.log_step(loss.item())
    model.eval()


register_method(
    SSLMethodInfo(
        name="mlm",
        modality=Modality.TEXT,
        summary="masked-language-model continued pretraining of the encoder on the pool",
        reference="Devlin et al. 2019 (BERT); Gururangan et al. 2020 (domain-adaptive pretraining)",
        train=train_mlm,
    )
)


def adapt_text_encoder(
    encoder: str,
    pool_texts: Any,
    method: str = "mlm",
    epochs: int = 1,
    seed: int = 0,
    cache_dir: str | None = None,
    time_limit: float | None = None,
    n_jobs: int = 1,
    device: str = "cpu",
    max_items: int = MAX_ITEMS,
) -> Path:
    """The folder of ``encoder`` adapted on ``pool_texts`` (trained now, or from the cache)."""
    from automl.components.pretrain.base import SSL_METHODS
    from automl.components.text.encoders import ENCODERS, load_model, load_tokenizer

    info = SSL_METHODS.get(method)
    texts, keys = select_pool(pool_texts, max_items, seed)
    parts = {
        "kind": "text",
        "method": method,
        "recipe": "v1",
        "backbone": encoder,
        "from": ENCODERS.get(encoder).location()[1],
        "epochs": int(epochs),
        "seed": int(seed),
        "max_length": MAX_LENGTH,
        "batch_size": BATCH_SIZE,
    }

    def train(folder: Path, run: TrainingRun) -> None:
        import torch

        torch.set_num_threads(max(1, n_jobs))
        model, tokenizer = load_model(encoder).to(device), load_tokenizer(encoder)
        info.train(model, tokenizer, texts, run, int(epochs), int(seed), device=device)
        model.cpu().save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return adapted_checkpoint(cache_dir, parts, keys, train, time_limit)


def adapted_encoder(encoder: str, method: str, epochs: int, seed: int, runtime: Runtime) -> Path | None:
    """For an estimator's ``fit``: the folder of ``encoder`` adapted with ``method`` on the
    runtime's pool (None for ``none``)."""
    if chosen_method(method, runtime.unlabelled, Modality.TEXT) is None:
        return None
    return adapt_text_encoder(
        encoder,
        runtime.unlabelled,
        method,
        epochs,
        seed,
        runtime.cache_dir,
        one_off_limit(runtime),
        runtime.n_jobs,
        runtime.device,
    )


def adapted_state(folder: Path) -> dict:
    """The adapted encoder's weights as CPU tensors, to keep inside a fitted model."""
    folder = Path(folder)
    if (folder / "model.safetensors").is_file():
        from safetensors.torch import load_file

        return load_file(folder / "model.safetensors")
    import torch

    return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
