"""Training only an encoder's top layers, over cached outputs of the frozen layers below.

Tuning the top ``k`` of ``L`` transformer layers needs the frozen layers' output for each
text once, not once per optimiser step: a SetFit step embeds a batch of 16 texts, and a fit
runs ~2.5 steps per labelled text, so the lower layers would otherwise read every text ~40
times. With the lower outputs cached, a step runs the top ``k`` layers forward and backward
only (about ``3k/L`` of a frozen forward pass instead of ~3 full ones).

The cached states replace the model's embedding module and the lower layers are taken out of
its layer list for the duration of a ``with`` block, so the model's own forward (attention
masks, relative position bias, pooling by the caller) is used unchanged. Works for encoders
laid out as Hugging Face BERT-style models (``embeddings`` plus ``encoder.layer``: BERT,
MiniLM, MPNet, RoBERTa); ``supports`` says whether a model is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


def n_layers(model: Any) -> int:
    return len(model.encoder.layer)


def supports(model: Any) -> bool:
    return hasattr(model, "embeddings") and hasattr(getattr(model, "encoder", None), "layer")


class LowerCache:
    """Output of an encoder's first ``n_layers - k`` layers for each text's word pieces
    (those layers are frozen). Made before ``upper_layers_only`` takes them out of the model,
    it keeps them, and computes the states of texts it meets later (augmented ones) with them."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int, k: int, device: str) -> None:
        self.model = model
        self.embeddings = model.embeddings
        self.layers = model.encoder.layer
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.split = n_layers(model) - k
        self.device = device
        self.states: dict[tuple[int, ...], Any] = {}
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def prime(self, texts: Sequence[str], batch_size: int = 32) -> None:
        """Compute the states of the texts not cached yet (tokenised as ``encode`` does)."""
        import torch

        ids = self.tokenizer([str(t) for t in texts], truncation=True, max_length=self.max_length)[
            "input_ids"
        ]
        missing = list({tuple(i) for i in ids if tuple(i) not in self.states})
        if not missing:
            return
        model = self.model
        was_training, swapped = model.training, (model.embeddings, model.encoder.layer)
        # The lower layers alone, in eval mode: a frozen layer's output has no dropout.
        model.embeddings, model.encoder.layer = (
            self.embeddings,
            torch.nn.ModuleList(self.layers[: self.split]),
        )
        model.eval()
        try:
            for start in range(0, len(missing), batch_size):
                part = missing[start : start + batch_size]
                batch = self.tokenizer.pad({"input_ids": [list(p) for p in part]}, return_tensors="pt")
                with torch.no_grad():
                    hidden = model(**batch.to(self.device)).last_hidden_state
                for row, key in enumerate(part):
                    self.states[key] = hidden[row, : len(key)].detach()
        finally:
            model.embeddings, model.encoder.layer = swapped
            model.train(was_training)

    def lookup(self, input_ids: Any) -> Any:
        """The cached states of a padded batch of word-piece ids, padded alike with zeros
        (padding positions are masked by the layers above)."""
        import torch

        rows = []
        width = input_ids.shape[1]
        for ids in input_ids.tolist():
            n = len(ids)
            while n > 0 and ids[n - 1] == self.pad_id and tuple(ids[:n]) not in self.states:
                n -= 1
            state = self.states[tuple(ids[:n])]
            rows.append(torch.nn.functional.pad(state, (0, 0, 0, width - state.shape[0])))
        return torch.stack(rows)


def _cached_embeddings(cache: LowerCache) -> Any:
    """A module standing in for the embedding module: it returns the cached states."""
    import torch.nn as nn

    class CachedEmbeddings(nn.Module):
        def forward(self, input_ids: Any = None, *args: Any, **kwargs: Any) -> Any:
            return cache.lookup(input_ids)

    return CachedEmbeddings()


@contextmanager
def upper_layers_only(model: Any, cache: LowerCache) -> Iterator[list[Any]]:
    """Within the block the model maps word-piece ids of cached texts through its top layers
    only; yields the trainable parameters (those of the top layers)."""
    import torch.nn as nn

    layers, embeddings = cache.layers, cache.embeddings
    for p in model.parameters():
        p.requires_grad_(False)
    top = list(layers)[cache.split :]
    trainable = [p for layer in top for p in layer.parameters()]
    for p in trainable:
        p.requires_grad_(True)
    model.encoder.layer = nn.ModuleList(top)
    model.embeddings = _cached_embeddings(cache)
    try:
        yield trainable
    finally:
        model.encoder.layer = layers
        model.embeddings = embeddings
        for p in model.parameters():
            p.requires_grad_(True)
