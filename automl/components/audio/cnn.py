"""A small CNN on log-mel spectrograms, trained from scratch: the learner that can use
on-the-fly waveform augmentation and SpecAugment masking, which frozen features cannot."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from automl.components.audio.signal import SAMPLE_RATE, augment_wave, fit_length, load_wave, log_mel
from automl.components.audio.window import clip_domain, default_clip_seconds
from automl.components.availability import has_modules
from automl.components.base import ComponentInfo, defaults_of, estimator_builder, register
from automl.components.runtime import TimeLimit, UsesRuntime, set_threads
from automl.components.training import schedule_done, train_epochs
from automl.data.dataset import Modality
from automl.data.profile import DataProfile
from automl.data.splits import inner_split
from automl.space.domains import CategoricalDomain, FloatDomain, IntDomain


def _net(n_classes: int, channels: int, dropout: float):
    import torch.nn as nn

    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))

    return nn.Sequential(
        block(1, channels),
        block(channels, 2 * channels),
        block(2 * channels, 4 * channels),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(4 * channels, n_classes),
    )


class AudioCNN(UsesRuntime, ClassifierMixin, BaseEstimator):
    def __init__(
        self,
        clip_seconds: float = 1.0,
        epochs: int = 40,
        lr: float = 3e-3,
        batch_size: int = 16,
        channels: int = 16,
        dropout: float = 0.1,
        weight_decay: float = 1e-3,
        label_smoothing: float = 0.05,
        strength: float = 0.0,
        spec_mask: float = 0.1,
        seed: int = 0,
    ):
        self.clip_seconds = clip_seconds
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.channels = channels
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.strength = strength
        self.spec_mask = spec_mask
        self.seed = seed

    def _mels(self, X, rng: np.random.Generator | None = None) -> np.ndarray:
        n = int(round(self.clip_seconds * SAMPLE_RATE))
        out = []
        for p in X:
            wave = load_wave(p)
            # Half the items of each epoch are augmented: the model still sees clean speech.
            if rng is not None and self.strength > 0 and rng.random() < 0.5:
                wave = augment_wave(wave, rng, self.strength)
            out.append(log_mel(fit_length(wave, n)))
        return np.stack(out)

    def fit(self, X, y):
        import torch

        rt = self.runtime
        limit = TimeLimit(rt.time_limit)
        torch.manual_seed(self.seed)
        set_threads(rt.n_jobs)
        rng = np.random.default_rng(self.seed)
        X = np.asarray(X, dtype=object)
        self.classes_, y_enc = np.unique(np.asarray(y), return_inverse=True)
        tr, va = inner_split(y_enc, self.seed)  # early stopping picks the epoch to keep
        clean = self._mels(X)
        self.std_ = clean[tr].std(axis=(0, 2), keepdims=True)[0] + 1e-5
        self.model_ = _net(len(self.classes_), self.channels, self.dropout).to(rt.device)
        opt = torch.optim.AdamW(self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=self.lr, total_steps=self.epochs * int(np.ceil(len(tr) / self.batch_size))
        )
        loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)

        def train_epoch(epoch: int) -> None:
            self.model_.train()
            mels = self._mels(X[tr], rng) if self.strength > 0 else clean[tr]
            order = rng.permutation(len(tr))
            for i in range(0, len(tr), self.batch_size):
                idx = order[i : i + self.batch_size]
                xb = self._tensor(mels[idx], rng if self.spec_mask > 0 else None)
                yb = torch.as_tensor(y_enc[tr][idx], device=rt.device)
                opt.zero_grad()
                loss_fn(self.model_(xb), yb).backward()
                opt.step()
                sched.step()

        def validate() -> float:
            return float((self._proba(clean[va]).argmax(1) == y_enc[va]).mean())

        # No patience: a CNN from scratch is noisy epoch to epoch; the best epoch is kept.
        self.epochs_run_ = train_epochs(
            [self.model_], self.epochs, train_epoch, validate if len(va) else None, limit, name="audio_cnn"
        )
        self.time_stopped_ = limit.reached
        self.schedule_done_ = schedule_done(self.epochs_run_, self.epochs, limit)
        return self

    def _tensor(self, mels: np.ndarray, rng: np.random.Generator | None = None):
        import torch

        # Per-utterance mean removal per band (cepstral mean normalisation) takes out the
        # recording channel and speaker loudness; the global scale then evens the bands.
        x = (mels - mels.mean(axis=2, keepdims=True)) / self.std_
        if rng is not None:  # SpecAugment: one frequency band and one time span masked per item
            x = x.copy()
            for item in x:
                f = int(rng.integers(0, max(1, int(self.spec_mask * item.shape[0])) + 1))
                t = int(rng.integers(0, max(1, int(self.spec_mask * item.shape[1])) + 1))
                f0 = int(rng.integers(0, item.shape[0] - f + 1))
                t0 = int(rng.integers(0, item.shape[1] - t + 1))
                item[f0 : f0 + f] = 0
                item[:, t0 : t0 + t] = 0
        return torch.as_tensor(x[:, None], dtype=torch.float32, device=self.runtime.device)

    def _proba(self, mels: np.ndarray) -> np.ndarray:
        import torch

        self.model_.eval()
        with torch.no_grad():
            return torch.softmax(self.model_(self._tensor(mels)), 1).cpu().numpy()

    def predict_proba(self, X):
        return self._proba(self._mels(np.asarray(X, dtype=object)))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]


def _space(profile: DataProfile) -> dict:
    return {
        "clip_seconds": clip_domain(profile),
        "epochs": IntDomain(10, 80, log=True),
        "lr": FloatDomain(3e-4, 1e-2, log=True),
        "batch_size": CategoricalDomain((8, 16, 32)),
        "channels": CategoricalDomain((8, 16, 32)),
        "reg.dropout": FloatDomain(0.0, 0.6),
        "reg.weight_decay": FloatDomain(1e-5, 1e-1, log=True),
        "reg.label_smoothing": FloatDomain(0.0, 0.2),
        "augment.strength": FloatDomain(0.0, 1.0),
        "augment.spec_mask": FloatDomain(0.0, 0.3),
    }


_NAMES = {
    "clip_seconds": "clip_seconds",
    "epochs": "epochs",
    "lr": "lr",
    "batch_size": "batch_size",
    "channels": "channels",
    "reg.dropout": "dropout",
    "reg.weight_decay": "weight_decay",
    "reg.label_smoothing": "label_smoothing",
    "augment.strength": "strength",
    "augment.spec_mask": "spec_mask",
}


register(
    ComponentInfo(
        name="audio_cnn",
        kind="learner",
        summary="small CNN on log-mel spectrograms from scratch, waveform augmentation + SpecAugment",
        modalities=frozenset({Modality.AUDIO}),
        space=_space,
        build=estimator_builder(AudioCNN, _NAMES),
        defaults=lambda p: defaults_of(AudioCNN, _NAMES, clip_seconds=default_clip_seconds(p)),
        consumes="raw",
        cost=3,
        strategy="finetune",
        available=lambda: (
            None
            if has_modules("torch", "librosa")
            else "torch and librosa are needed: pip install 'automl[audio]'"
        ),
    )
)
