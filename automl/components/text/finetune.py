"""Trainable text learners: SetFit-style contrastive fine-tuning, and full fine-tuning with a
classification head. Both are scikit-learn classifiers over raw texts."""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from automl.components.base import BuildContext, ComponentInfo, register
from automl.components.pretrain.base import SSL_DEFAULTS, ssl_space
from automl.components.pretrain.text_mlm import adapted_encoder
from automl.components.text.eda import eda, thesaurus_for
from automl.components.text.encoders import ENCODERS, encode, load_model, load_tokenizer, usable_encoders
from automl.data.dataset import Modality
from automl.data.profile import DataProfile
from automl.data.splits import inner_split
from automl.logger import log
from automl.space.domains import CategoricalDomain, FloatDomain, IntDomain


class _EncoderLearner(ClassifierMixin, BaseEstimator):
    def _start(self, y):
        import torch

        torch.manual_seed(self.seed)
        torch.set_num_threads(max(1, self.n_jobs))
        self.classes_, y_enc = np.unique(np.asarray(y), return_inverse=True)
        self.tokenizer_ = load_tokenizer(self.encoder)
        self.model_ = load_model(self.encoder, self.weights).to(self.device)
        self._t0 = time.monotonic()
        return y_enc

    def _out_of_time(self) -> bool:
        return self.time_limit is not None and time.monotonic() - self._t0 > 0.9 * self.time_limit

    def _embed(self, texts, grad=False):
        return encode(self.model_, self.tokenizer_, [str(t) for t in texts], self.max_length,
                      self.pooling, ENCODERS.get(self.encoder).normalize, batch_size=32,
                      grad=grad, device=self.device)

    def _augment(self, texts, rng):
        if self.augment <= 0:
            return list(texts)
        thes = thesaurus_for(self.encoder)
        return [eda(str(t), self.augment, rng, thes) if rng.random() < 0.5 else str(t) for t in texts]


class SetFitClassifier(_EncoderLearner):
    """Contrastive fine-tuning on sentence pairs (same class -> cosine 1, different -> 0),
    then a logistic-regression head on the tuned embeddings (Tunstall et al., 2022).

    SetFit feeds each pair through the encoder separately. Here each step embeds one
    class-balanced batch of sentences once and scores all batch*(batch-1)/2 pairs in it. The
    number of optimiser steps is SetFit's (``pairs`` rounds of one positive and one negative
    pair per example, ``batch_size`` pairs a step), so each step sees many more pairs for half
    the forward passes.
    """

    def __init__(self, encoder: str = "minilm", pooling: str = "mean", max_length: int = 64,
                 pairs: int = 20, epochs: int = 1, lr: float = 2e-5, batch_size: int = 16,
                 head_c: float = 1.0, augment: float = 0.0, seed: int = 0,
                 time_limit: float | None = None, n_jobs: int = 1, device: str = "cpu",
                 weights: str | None = None):
        self.encoder = encoder
        self.pooling = pooling
        self.max_length = max_length
        self.pairs = pairs
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.head_c = head_c
        self.augment = augment
        self.seed = seed
        self.time_limit = time_limit
        self.n_jobs = n_jobs
        self.device = device
        self.weights = weights  # folder of an SSL-adapted encoder, or None for the stock one

    def _batches(self, y: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """Class-balanced batches: classes take turns, each drawing from its shuffled members."""
        n, b = len(y), max(2, min(self.batch_size, len(y)))
        steps = max(1, int(np.ceil(self.epochs * 2 * self.pairs * n / b)))
        pools = {c: rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)}
        cursor = dict.fromkeys(pools, 0)
        classes = list(pools)
        out = []
        for _ in range(steps):
            batch = []
            for j in range(b):
                c = classes[(j + len(out)) % len(classes)]
                if cursor[c] >= len(pools[c]):
                    pools[c], cursor[c] = rng.permutation(pools[c]), 0
                batch.append(pools[c][cursor[c]])
                cursor[c] += 1
            out.append(np.array(batch))
        return out

    def fit(self, X, y):
        import torch

        y_enc = self._start(y)
        X = np.asarray(X, dtype=object)
        rng = np.random.default_rng(self.seed)
        batches = self._batches(y_enc, rng)
        opt = torch.optim.AdamW(self.model_.parameters(), lr=self.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / len(batches)))
        self.steps_done_, self.losses_ = 0, []
        self.model_.train()
        for idx in batches:
            if self._out_of_time():
                log.debug("setfit: time limit reached after %d steps", self.steps_done_)
                break
            emb = torch.nn.functional.normalize(self._embed(self._augment(X[idx], rng), grad=True), dim=-1)
            labels = torch.as_tensor(y_enc[idx], device=self.device)
            same = (labels[:, None] == labels[None, :]).float()
            upper = torch.triu(torch.ones_like(same), diagonal=1).bool()
            err = (emb @ emb.T - same)[upper] ** 2
            pos, neg = same[upper].bool(), ~same[upper].bool()
            # Positives and negatives weigh equally, as in SetFit's balanced pair sampling.
            loss = sum(err[m].mean() for m in (pos, neg) if m.any())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            self.steps_done_ += 1
            self.losses_.append(loss.item())
        self.model_.eval()
        self.head_ = LogisticRegression(C=self.head_c, max_iter=3000).fit(
            self._embed(X).cpu().numpy(), y_enc)
        return self

    def predict_proba(self, X):
        return self.head_.predict_proba(self._embed(np.asarray(X, dtype=object)).cpu().numpy())

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]


class TextFineTuner(_EncoderLearner):
    """The encoder plus a linear head, trained end to end with cross-entropy; the epoch is
    chosen by early stopping on an inner split of the training fold."""

    def __init__(self, encoder: str = "minilm", pooling: str = "mean", max_length: int = 64,
                 epochs: int = 8, lr: float = 5e-5, batch_size: int = 16, dropout: float = 0.1,
                 weight_decay: float = 0.01, label_smoothing: float = 0.1, augment: float = 0.0,
                 patience: int = 2, seed: int = 0, time_limit: float | None = None, n_jobs: int = 1,
                 device: str = "cpu", weights: str | None = None):
        self.encoder = encoder
        self.pooling = pooling
        self.max_length = max_length
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.augment = augment
        self.patience = patience
        self.seed = seed
        self.time_limit = time_limit
        self.n_jobs = n_jobs
        self.device = device
        self.weights = weights

    def fit(self, X, y):
        import torch
        import torch.nn as nn

        y_enc = self._start(y)
        X = np.asarray(X, dtype=object)
        rng = np.random.default_rng(self.seed)
        k = len(self.classes_)
        dim = ENCODERS.get(self.encoder).dim
        self.head_ = nn.Sequential(nn.Dropout(self.dropout), nn.Linear(dim, k)).to(self.device)
        params = list(self.model_.parameters()) + list(self.head_.parameters())
        opt = torch.optim.AdamW([{"params": self.model_.parameters(), "lr": self.lr},
                                 {"params": self.head_.parameters(), "lr": self.lr * 20}],
                                weight_decay=self.weight_decay)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)
        tr, va = inner_split(y_enc, self.seed)
        best, best_state, bad, self.epochs_run_ = -1.0, None, 0, 0
        for epoch in range(self.epochs):
            if self._out_of_time():
                break
            self.model_.train()
            self.head_.train()
            order = rng.permutation(tr)
            for i in range(0, len(order), self.batch_size):
                idx = order[i:i + self.batch_size]
                logits = self.head_(self._embed(self._augment(X[idx], rng), grad=True))
                loss = loss_fn(logits, torch.as_tensor(y_enc[idx], device=self.device))
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
            self.epochs_run_ = epoch + 1
            if len(va):
                acc = float((self._proba(X[va]).argmax(1) == y_enc[va]).mean())
                if acc >= best:
                    best, bad = acc, 0
                    best_state = ({n: t.detach().clone() for n, t in self.model_.state_dict().items()},
                                  {n: t.detach().clone() for n, t in self.head_.state_dict().items()})
                else:
                    bad += 1
                    if bad >= self.patience:
                        break
        if best_state is not None:
            self.model_.load_state_dict(best_state[0])
            self.head_.load_state_dict(best_state[1])
        self.model_.eval()
        self.head_.eval()
        return self

    def _proba(self, X) -> np.ndarray:
        import torch

        self.model_.eval()
        self.head_.eval()
        with torch.no_grad():
            return torch.softmax(self.head_(self._embed(X)), 1).cpu().numpy()

    def predict_proba(self, X):
        return self._proba(np.asarray(X, dtype=object))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]


def _common(p: DataProfile) -> dict:
    return {"encoder": CategoricalDomain(tuple(usable_encoders()) or ("minilm",)),
            "pooling": CategoricalDomain(("mean", "cls")),
            "max_length": CategoricalDomain((32, 64, 128)),
            "augment.strength": FloatDomain(0.0, 0.3), **ssl_space(Modality.TEXT, p)}


def _ctx(params: dict[str, Any], ctx: BuildContext) -> dict[str, Any]:
    return {"seed": ctx.seed, "time_limit": ctx.time_limit, "n_jobs": ctx.n_jobs, "device": ctx.device,
            "weights": adapted_encoder(params, ctx, params.get("encoder", "minilm"))}


register(ComponentInfo(
    name="setfit",
    kind="learner",
    summary="SetFit-style contrastive fine-tuning on sentence pairs, then a logistic head",
    modalities=frozenset({Modality.TEXT}),
    space=lambda p: {**_common(p), "pairs": IntDomain(2, 60, log=True), "epochs": IntDomain(1, 2),
                     "lr": FloatDomain(5e-6, 1e-4, log=True), "batch_size": CategoricalDomain((8, 16, 32)),
                     "head_c": FloatDomain(0.01, 100.0, log=True)},
    build=lambda params, ctx: SetFitClassifier(
        encoder=params.get("encoder", "minilm"), pooling=params.get("pooling", "mean"),
        max_length=params.get("max_length", 64), pairs=params.get("pairs", 20),
        epochs=params.get("epochs", 1), lr=params.get("lr", 2e-5),
        batch_size=params.get("batch_size", 16), head_c=params.get("head_c", 1.0),
        augment=params.get("augment.strength", 0.0), **_ctx(params, ctx)),
    # SetFit's published defaults: 20 pair rounds, one epoch, lr 2e-5, batch 16.
    defaults=lambda p: {"encoder": (usable_encoders() or ["minilm"])[0], "pooling": "mean",
                        "max_length": 64, "augment.strength": 0.0, "pairs": 20, "epochs": 1,
                        "lr": 2e-5, "batch_size": 16, "head_c": 1.0, **SSL_DEFAULTS},
    consumes="raw",
    cost=2,
    strategy="finetune",
    available=lambda: None if usable_encoders() else "no text encoder is available offline",
))

register(ComponentInfo(
    name="text_finetune",
    kind="learner",
    summary="full fine-tuning of the encoder with a classification head",
    modalities=frozenset({Modality.TEXT}),
    space=lambda p: {**_common(p), "epochs": IntDomain(2, 15), "lr": FloatDomain(1e-5, 2e-4, log=True),
                     "batch_size": CategoricalDomain((8, 16, 32)), "reg.dropout": FloatDomain(0.0, 0.5),
                     "reg.weight_decay": FloatDomain(1e-4, 0.1, log=True),
                     "reg.label_smoothing": FloatDomain(0.0, 0.2)},
    build=lambda params, ctx: TextFineTuner(
        encoder=params.get("encoder", "minilm"), pooling=params.get("pooling", "mean"),
        max_length=params.get("max_length", 64), epochs=params.get("epochs", 8),
        lr=params.get("lr", 5e-5), batch_size=params.get("batch_size", 16),
        dropout=params.get("reg.dropout", 0.1), weight_decay=params.get("reg.weight_decay", 0.01),
        label_smoothing=params.get("reg.label_smoothing", 0.1),
        augment=params.get("augment.strength", 0.0), **_ctx(params, ctx)),
    defaults=lambda p: {"encoder": (usable_encoders() or ["minilm"])[0], "pooling": "mean",
                        "max_length": 64, "augment.strength": 0.0, "epochs": 8, "lr": 5e-5,
                        "batch_size": 16, "reg.dropout": 0.1, "reg.weight_decay": 0.01,
                        "reg.label_smoothing": 0.1, **SSL_DEFAULTS},
    consumes="raw",
    cost=3,
    strategy="finetune",
    available=lambda: None if usable_encoders() else "no text encoder is available offline",
))
