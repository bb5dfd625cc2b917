"""Trainable text learners: SetFit-style contrastive fine-tuning, and full fine-tuning with a
classification head. Both are scikit-learn classifiers over raw texts."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from automl.components.base import (
    EXPENSIVE_TRIAL_SHARE,
    ComponentInfo,
    defaults_of,
    estimator_builder,
    register,
)
from automl.components.pretrain.base import SSL_NAMES, ssl_space
from automl.components.pretrain.text_mlm import adapted_encoder
from automl.components.runtime import TimeLimit, UsesRuntime, set_threads, train_precision, training_autocast
from automl.components.text import upper
from automl.components.text.eda import eda, thesaurus_for
from automl.components.text.encoders import ENCODERS, encode, load_model, load_tokenizer, usable_encoders
from automl.components.text.window import covering_length, length_domain
from automl.components.training import schedule_done, train_epochs
from automl.data.dataset import Modality
from automl.data.profile import DataProfile
from automl.data.splits import inner_split
from automl.logger import log
from automl.space.domains import CategoricalDomain, FloatDomain, IntDomain


class _EncoderLearner(UsesRuntime, ClassifierMixin, BaseEstimator):
    def _start(self, y) -> tuple[np.ndarray, TimeLimit]:
        import torch

        rt = self.runtime
        limit = TimeLimit(rt.time_limit)
        torch.manual_seed(self.seed)
        set_threads(rt.n_jobs)
        self.classes_, y_enc = np.unique(np.asarray(y), return_inverse=True)
        weights = adapted_encoder(self.encoder, self.ssl_method, self.ssl_epochs, self.seed, rt)
        self.tokenizer_ = load_tokenizer(self.encoder)
        self.model_ = load_model(self.encoder, weights).to(rt.device)
        return y_enc, limit

    def _embed(self, texts, grad=False):
        return encode(
            self.model_,
            self.tokenizer_,
            [str(t) for t in texts],
            self.max_length,
            self.pooling,
            ENCODERS.get(self.encoder).normalize,
            batch_size=32,
            grad=grad,
            device=self.runtime.device,
        )

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

    ``train_layers`` > 0 tunes only the encoder's top that many layers, over cached outputs of
    the frozen ones (``text.upper``): a step then costs a fraction of a full one, which brings
    a large encoder's SetFit within a short budget. 0 tunes all layers.
    """

    # Defaults: SetFit's published ones, 20 pair rounds, one epoch, lr 2e-5, batch 16.
    def __init__(
        self,
        encoder: str = "minilm",
        pooling: str = "mean",
        max_length: int = 64,
        pairs: int = 20,
        epochs: int = 1,
        lr: float = 2e-5,
        batch_size: int = 16,
        head_c: float = 1.0,
        augment: float = 0.0,
        seed: int = 0,
        ssl_method: str = "none",
        ssl_epochs: int = 1,
        train_layers: int = 0,
    ):
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
        self.ssl_method = ssl_method
        self.ssl_epochs = ssl_epochs
        self.train_layers = train_layers

    def _steps(self, n: int) -> int:
        return max(1, int(np.ceil(self.epochs * 2 * self.pairs * n / self._batch_size(n))))

    def _batch_size(self, n: int) -> int:
        return max(2, min(self.batch_size, n))

    def _batches(self, y: np.ndarray, rng: np.random.Generator) -> Iterator[np.ndarray]:
        """Class-balanced batches: classes take turns, each drawing from its shuffled members.
        Drawn one at a time, so a time limit that stops the loop early never pays for the rest."""
        b = self._batch_size(len(y))
        pools = {c: rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)}
        cursor = dict.fromkeys(pools, 0)
        classes = list(pools)
        for step in range(self._steps(len(y))):
            batch = []
            for j in range(b):
                c = classes[(j + step) % len(classes)]
                if cursor[c] >= len(pools[c]):
                    pools[c], cursor[c] = rng.permutation(pools[c]), 0
                batch.append(pools[c][cursor[c]])
                cursor[c] += 1
            yield np.array(batch)

    def fit(self, X, y):
        import torch

        y_enc, limit = self._start(y)
        X = np.asarray(X, dtype=object)
        rng = np.random.default_rng(self.seed)
        steps = self._steps(len(y_enc))
        self.steps_done_, self.losses_ = 0, []
        with self._trainable() as (params, prime):
            prime(X)
            opt = torch.optim.AdamW(params, lr=self.lr)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))
            self.model_.train()
            for idx in self._batches(y_enc, rng):
                if limit.out_of_time():
                    log.debug("setfit: time limit reached after %d steps", self.steps_done_)
                    break
                texts = self._augment(X[idx], rng)
                prime(texts)
                self._step(texts, y_enc[idx], opt, sched)
        self.time_stopped_ = limit.reached
        self.schedule_done_ = schedule_done(self.steps_done_, steps, limit)
        self.model_.eval()
        self.head_ = LogisticRegression(C=self.head_c, max_iter=3000).fit(self._embed(X).cpu().numpy(), y_enc)
        return self

    @contextmanager
    def _trainable(self) -> Iterator[tuple[list, Callable[[Sequence[str]], None]]]:
        """(parameters to tune, a function readying texts for a step) for the whole encoder,
        or for its top ``train_layers`` over cached lower-layer states."""
        layers = upper.n_layers(self.model_) if upper.supports(self.model_) else 0
        if not 0 < self.train_layers < layers:
            yield list(self.model_.parameters()), lambda texts: None
            return
        cache = upper.LowerCache(
            self.model_, self.tokenizer_, self.max_length, self.train_layers, self.runtime.device
        )
        with upper.upper_layers_only(self.model_, cache) as params:
            yield params, cache.prime

    def _step(self, texts, labels, opt, sched) -> None:
        import torch

        with training_autocast(self.runtime.device):
            emb = torch.nn.functional.normalize(self._embed(texts, grad=True), dim=-1)
        labels = torch.as_tensor(labels, device=self.runtime.device)
        same = (labels[:, None] == labels[None, :]).float()
        pairs = torch.triu(torch.ones_like(same), diagonal=1).bool()
        err = (emb @ emb.T - same)[pairs] ** 2
        pos, neg = same[pairs].bool(), ~same[pairs].bool()
        # Positives and negatives weigh equally, as in SetFit's balanced pair sampling.
        loss = sum(err[m].mean() for m in (pos, neg) if m.any())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        self.steps_done_ += 1
        self.losses_.append(loss.item())

    def predict_proba(self, X):
        return self.head_.predict_proba(self._embed(np.asarray(X, dtype=object)).cpu().numpy())

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]


class TextFineTuner(_EncoderLearner):
    """The encoder plus a linear head, trained end to end with cross-entropy; the epoch is
    chosen by early stopping on an inner split of the training fold."""

    def __init__(
        self,
        encoder: str = "minilm",
        pooling: str = "mean",
        max_length: int = 64,
        epochs: int = 8,
        lr: float = 5e-5,
        batch_size: int = 16,
        dropout: float = 0.1,
        weight_decay: float = 0.01,
        label_smoothing: float = 0.1,
        augment: float = 0.0,
        patience: int = 2,
        seed: int = 0,
        ssl_method: str = "none",
        ssl_epochs: int = 1,
    ):
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
        self.ssl_method = ssl_method
        self.ssl_epochs = ssl_epochs

    def fit(self, X, y):
        import torch
        import torch.nn as nn

        y_enc, limit = self._start(y)
        device = self.runtime.device
        X = np.asarray(X, dtype=object)
        rng = np.random.default_rng(self.seed)
        k = len(self.classes_)
        dim = ENCODERS.get(self.encoder).dim
        self.head_ = nn.Sequential(nn.Dropout(self.dropout), nn.Linear(dim, k)).to(device)
        params = list(self.model_.parameters()) + list(self.head_.parameters())
        opt = torch.optim.AdamW(
            [
                {"params": self.model_.parameters(), "lr": self.lr},
                {"params": self.head_.parameters(), "lr": self.lr * 20},
            ],
            weight_decay=self.weight_decay,
        )
        loss_fn = nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)
        tr, va = inner_split(y_enc, self.seed)

        def train_epoch(epoch: int) -> None:
            self.model_.train()
            self.head_.train()
            order = rng.permutation(tr)
            for i in range(0, len(order), self.batch_size):
                idx = order[i : i + self.batch_size]
                with training_autocast(device):
                    logits = self.head_(self._embed(self._augment(X[idx], rng), grad=True))
                    loss = loss_fn(logits, torch.as_tensor(y_enc[idx], device=device))
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()

        def validate() -> float:
            return float((self._proba(X[va]).argmax(1) == y_enc[va]).mean())

        self.epochs_run_ = train_epochs(
            [self.model_, self.head_],
            self.epochs,
            train_epoch,
            validate if len(va) else None,
            limit,
            patience=self.patience,
            name="text_finetune",
        )
        self.time_stopped_ = limit.reached
        self.schedule_done_ = schedule_done(self.epochs_run_, self.epochs, limit)
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
    return {
        "encoder": CategoricalDomain(tuple(usable_encoders()) or ("minilm",)),
        "pooling": CategoricalDomain(("mean", "cls")),
        # Training reads the first window only; past 128 word pieces a CPU step costs too much.
        "max_length": length_domain(p, cap=128),
        "augment.strength": FloatDomain(0.0, 0.3),
        **ssl_space(Modality.TEXT, p),
    }


_COMMON_NAMES = {
    "encoder": "encoder",
    "pooling": "pooling",
    "max_length": "max_length",
    "augment.strength": "augment",
    **SSL_NAMES,
}
_SETFIT_NAMES = {
    **_COMMON_NAMES,
    "pairs": "pairs",
    "epochs": "epochs",
    "lr": "lr",
    "batch_size": "batch_size",
    "head_c": "head_c",
}
_FINETUNE_NAMES = {
    **_COMMON_NAMES,
    "epochs": "epochs",
    "lr": "lr",
    "batch_size": "batch_size",
    "reg.dropout": "dropout",
    "reg.weight_decay": "weight_decay",
    "reg.label_smoothing": "label_smoothing",
}


# SetFit on MiniLM at its defaults took 0.55 s an optimiser step on 2 CPU cores (sst2-few,
# 64 word pieces, batch 16); an encoder's registry cost scales that, and so does the window the
# learner reads by default: at these lengths a step's cost grows about linearly with it (trec-few
# at 32 word pieces: 0.29 s a step, 137 s for 5 folds of ~96 steps in a search on `train`). An
# encoder is offered when a trial with it fits in EXPENSIVE_TRIAL_SHARE of the budget over the
# first CV repeat.
# A step whose forward pass runs in bfloat16 (``runtime.train_precision``) took 0.53 s against
# 0.82 s for MiniLM and 2.7 s against 5.2 s for mpnet (sst2-few, 1 thread): MiniLM's, the
# smaller saving, is the one assumed.
STEP_SECONDS = 0.55
STEP_LENGTH = 64
BF16_STEP_SHARE = 0.65


def _affordable(steps_per_row: float):
    """``afford`` for a learner that trains ~``steps_per_row`` optimiser steps per labelled row."""

    def afford(domains: dict, profile: DataProfile, budget: float) -> tuple[dict, str | None]:
        dom = domains.get("encoder")
        if not isinstance(dom, CategoricalDomain) or len(dom.choices) < 2:
            return domains, None
        folds = max(2, min(5, profile.min_class_count))
        steps = steps_per_row * profile.n_rows * (folds - 1) / folds
        step = STEP_SECONDS * covering_length(profile, 128) / STEP_LENGTH
        if train_precision("cpu") == "bf16":  # the cost model is a CPU's
            step *= BF16_STEP_SHARE
        minutes = {e: folds * steps * step * ENCODERS.get(e).cost / 60 for e in dom.choices}
        keep = tuple(e for e in dom.choices if minutes[e] * 60 <= EXPENSIVE_TRIAL_SHARE * budget)
        keep = keep or (min(dom.choices, key=lambda e: minutes[e]),)
        dropped = [e for e in dom.choices if e not in keep]
        if not dropped:
            return domains, None
        note = ", ".join(f"{e} (~{minutes[e]:.0f} min a trial)" for e in dropped)
        return {**domains, "encoder": CategoricalDomain(keep)}, (
            f"encoder(s) {note} left out: more than {EXPENSIVE_TRIAL_SHARE:.0%} of the "
            f"{budget / 60:.0f}-minute budget; a longer --budget offers them"
        )

    return afford


def _defaults(estimator: type, names: dict[str, str]):
    return lambda p: defaults_of(
        estimator, names, encoder=(usable_encoders() or ["minilm"])[0], max_length=covering_length(p, 128)
    )


register(
    ComponentInfo(
        name="setfit",
        kind="learner",
        summary="SetFit-style contrastive fine-tuning on sentence pairs, then a logistic head",
        modalities=frozenset({Modality.TEXT}),
        space=lambda p: {
            **_common(p),
            "pairs": IntDomain(2, 60, log=True),
            "epochs": IntDomain(1, 2),
            "lr": FloatDomain(5e-6, 1e-4, log=True),
            "batch_size": CategoricalDomain((8, 16, 32)),
            "head_c": FloatDomain(0.01, 100.0, log=True),
        },
        build=estimator_builder(SetFitClassifier, _SETFIT_NAMES),
        defaults=_defaults(SetFitClassifier, _SETFIT_NAMES),
        consumes="raw",
        cost=2,
        # 20 pair rounds of 2 pairs per row, 16 pairs a step: 2.5 steps per row.
        afford=_affordable(2.5),
        strategy="finetune",
        available=lambda: None if usable_encoders() else "no text encoder is available offline",
    )
)

register(
    ComponentInfo(
        name="text_finetune",
        kind="learner",
        summary="full fine-tuning of the encoder with a classification head",
        modalities=frozenset({Modality.TEXT}),
        space=lambda p: {
            **_common(p),
            "epochs": IntDomain(2, 15),
            "lr": FloatDomain(1e-5, 2e-4, log=True),
            "batch_size": CategoricalDomain((8, 16, 32)),
            "reg.dropout": FloatDomain(0.0, 0.5),
            "reg.weight_decay": FloatDomain(1e-4, 0.1, log=True),
            "reg.label_smoothing": FloatDomain(0.0, 0.2),
        },
        build=estimator_builder(TextFineTuner, _FINETUNE_NAMES),
        defaults=_defaults(TextFineTuner, _FINETUNE_NAMES),
        consumes="raw",
        cost=3,
        # 8 epochs of batch 16, then a validation pass: ~0.6 steps per row.
        afford=_affordable(0.6),
        strategy="finetune",
        available=lambda: None if usable_encoders() else "no text encoder is available offline",
    )
)
