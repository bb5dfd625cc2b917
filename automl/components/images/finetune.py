"""Fine-tuning a pretrained backbone: head only, the last N blocks, or the whole network.

A scikit-learn classifier over image paths. Early stopping uses an inner validation split of
the training fold; the epoch loop stops when the fit's time limit is reached.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from automl.components.base import ComponentInfo, defaults_of, estimator_builder, register
from automl.components.images.backbones import (
    BACKBONES,
    backbones_unavailable,
    create_backbone,
    usable_backbones,
)
from automl.components.images.scale import default_resolution, resolution_domain
from automl.components.images.transforms import AugmentSpec, eval_transform, mix_batch, train_transform
from automl.components.pretrain.base import SSL_NAMES, ssl_space
from automl.components.pretrain.image_contrastive import adapted_backbone
from automl.components.runtime import TimeLimit, UsesRuntime, set_threads
from automl.components.training import schedule_done, train_epochs
from automl.data.dataset import Modality
from automl.data.images import read_rgb
from automl.data.profile import DataProfile
from automl.data.splits import inner_split
from automl.space.domains import CategoricalDomain, Conditional, FloatDomain, IntDomain

MODES = ("head", "partial", "full")


# AdamW moves every weight by about its learning rate a step, whatever the gradient's scale,
# and pretrained convolution weights are of the order of 1e-2: above some rate a few steps
# overwrite them, the sooner the more blocks train. Measured on `train` only (bench_finetune_lr.py: cifar10-few,
# EfficientNet-Lite0 128 px, 4 epochs, batch 16, layer decay 0.75, 5-fold CV): full fine-tune
# at lr 1e-3 0.665 +- 0.058, 2e-3 0.490, 4e-3 and 1.6e-2 chance (0.10); the last 2 blocks at
# 8e-3 0.605, at 3e-2 chance. The searched lr still sets the new head's, which starts from
# scratch and can take more. With these caps, full at lr 1.6e-2 scored 0.605 +- 0.070 and the
# last 2 blocks at 3e-2 0.485 +- 0.116 (no fold at chance).
BODY_LR_MAX = {"partial": 8e-3, "full": 1e-3}


class ImageFineTuner(UsesRuntime, ClassifierMixin, BaseEstimator):
    # Defaults: textbook few-shot settings, a partial fine-tune at a CPU-friendly resolution.
    def __init__(
        self,
        backbone: str = "efficientnet_lite0",
        resolution: int = 128,
        mode: str = "partial",
        blocks: int = 2,
        lr: float = 2e-3,
        epochs: int = 8,
        batch_size: int = 32,
        layer_decay: float = 0.8,
        dropout: float = 0.2,
        drop_path: float = 0.1,
        weight_decay: float = 1e-2,
        label_smoothing: float = 0.1,
        crop_scale: float = 0.6,
        flip: bool = True,
        jitter: float = 0.2,
        trivial: bool = False,
        mixup: float = 0.0,
        cutmix: float = 0.0,
        patience: int = 3,
        seed: int = 0,
        ssl_method: str = "none",
        ssl_epochs: int = 1,
    ):
        self.backbone = backbone
        self.resolution = resolution
        self.mode = mode
        self.blocks = blocks
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.layer_decay = layer_decay
        self.dropout = dropout
        self.drop_path = drop_path
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.crop_scale = crop_scale
        self.flip = flip
        self.jitter = jitter
        self.trivial = trivial
        self.mixup = mixup
        self.cutmix = cutmix
        self.patience = patience
        self.seed = seed
        self.ssl_method = ssl_method
        self.ssl_epochs = ssl_epochs

    def _aug(self) -> AugmentSpec:
        return AugmentSpec(self.crop_scale, self.flip, self.jitter, self.trivial, self.mixup, self.cutmix)

    def _param_groups(self, body, head):
        """Trainable parameters with layer-wise lr decay: the head learns at ``lr``, the last
        block at ``min(lr, BODY_LR_MAX[mode])`` times ``layer_decay``, each earlier one at
        ``layer_decay`` times the next. Frozen parts get no group at all."""
        groups = [{"params": list(head.parameters()), "lr": self.lr}]
        if self.mode == "head":
            return groups
        stages = _stages(body)
        trainable = stages if self.mode == "full" else stages[-self.blocks :]
        body_lr = min(self.lr, BODY_LR_MAX[self.mode])
        for depth, module in enumerate(reversed(trainable)):
            params = [p for p in module.parameters()]
            for p in params:
                p.requires_grad_(True)
            groups.append({"params": params, "lr": body_lr * self.layer_decay ** (depth + 1)})
        return groups

    def fit(self, X, y):
        import torch
        import torch.nn as nn

        rt = self.runtime
        limit = TimeLimit(rt.time_limit)
        torch.manual_seed(self.seed)
        set_threads(rt.n_jobs)
        rng = np.random.default_rng(self.seed)
        X = np.asarray(X, dtype=object)
        self.classes_, y_enc = np.unique(np.asarray(y), return_inverse=True)
        k = len(self.classes_)
        info = BACKBONES.get(self.backbone)
        weights = adapted_backbone(self.backbone, self.ssl_method, self.ssl_epochs, self.seed, rt)
        # Channels-last: convolutions on a CPU run 1.5-1.8x faster in that layout.
        body = create_backbone(self.backbone, drop_path_rate=self.drop_path, weights=weights)
        body = body.to(rt.device).to(memory_format=torch.channels_last)
        for p in body.parameters():
            p.requires_grad_(False)
        head = nn.Sequential(nn.Dropout(self.dropout), nn.Linear(body.num_features, k)).to(rt.device)
        opt = torch.optim.AdamW(self._param_groups(body, head), weight_decay=self.weight_decay)
        tr, va = inner_split(y_enc, self.seed)  # early stopping picks the epoch to keep
        steps = self.epochs * int(np.ceil(len(tr) / self.batch_size))
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=[g["lr"] for g in opt.param_groups], total_steps=max(steps, 1), pct_start=0.2
        )
        tf = train_transform(self.resolution, info.mean, info.std, self._aug())
        self.eval_tf_ = eval_transform(self.resolution, info.mean, info.std)
        images = [read_rgb(p) for p in X]  # small data: decode once, augment every epoch
        self.body_, self.head_ = body, head

        def train_epoch(epoch: int) -> None:
            # Frozen BatchNorm statistics: with a few hundred images the running estimates
            # would drift away from the pretrained ones and hurt more than they adapt.
            body.eval()
            head.train()
            if self.mode != "head":
                for m in _stages(body)[-self.blocks :] if self.mode == "partial" else [body]:
                    m.train()
                    for bn in m.modules():
                        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
                            bn.eval()
            order = rng.permutation(tr)
            for i in range(0, len(order), self.batch_size):
                idx = order[i : i + self.batch_size]
                xb = torch.stack([tf(images[j]) for j in idx]).to(rt.device)
                xb = xb.contiguous(memory_format=torch.channels_last)
                yb = torch.nn.functional.one_hot(torch.as_tensor(y_enc[idx]), k).float().to(rt.device)
                xb, yb = mix_batch(xb, yb, self._aug(), rng)
                yb = yb * (1 - self.label_smoothing) + self.label_smoothing / k
                loss = torch.sum(-yb * torch.log_softmax(head(body(xb)), 1), 1).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()

        def validate() -> float:
            return float((self._proba([images[j] for j in va]).argmax(1) == y_enc[va]).mean())

        self.epochs_run_ = train_epochs(
            [body, head],
            self.epochs,
            train_epoch,
            validate if len(va) else None,
            limit,
            patience=self.patience,
            name="image_finetune",
        )
        self.time_stopped_ = limit.reached
        self.schedule_done_ = schedule_done(self.epochs_run_, self.epochs, limit)
        return self

    def _proba(self, images) -> np.ndarray:
        import torch

        self.body_.eval()
        self.head_.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(images), 64):
                xb = torch.stack([self.eval_tf_(im) for im in images[i : i + 64]]).to(self.runtime.device)
                xb = xb.contiguous(memory_format=torch.channels_last)
                out.append(torch.softmax(self.head_(self.body_(xb)), 1).cpu().numpy())
        return np.concatenate(out)

    def predict_proba(self, X):
        set_threads(self.runtime.n_jobs)
        return self._proba([read_rgb(p) for p in np.asarray(X, dtype=object)])

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]


def _stages(body) -> list:
    """The backbone's blocks in order, for partial fine-tuning (timm names them ``blocks``,
    ``stages`` or ``layer1..4``), followed by the final head convolution when there is one."""
    import torch.nn as nn

    for attr in ("blocks", "stages"):
        if hasattr(body, attr):
            stages = list(getattr(body, attr))
            break
    else:
        stages = [getattr(body, f"layer{i}") for i in range(1, 5) if hasattr(body, f"layer{i}")]
    tail = [
        m for m in (getattr(body, "conv_head", None), getattr(body, "bn2", None)) if isinstance(m, nn.Module)
    ]
    if tail:
        stages.append(nn.ModuleList(tail))
    return stages


def _space(profile: DataProfile) -> dict:
    return {
        "backbone": CategoricalDomain(tuple(usable_backbones()) or ("efficientnet_lite0",)),
        "resolution": resolution_domain(profile),
        "finetune.mode": CategoricalDomain(MODES),
        "finetune.blocks": Conditional(IntDomain(1, 4), "finetune.mode", ("partial",)),
        "finetune.layer_decay": Conditional(FloatDomain(0.5, 1.0), "finetune.mode", ("partial", "full")),
        "lr": FloatDomain(1e-4, 3e-2, log=True),
        "epochs": IntDomain(2, 30, log=True),
        "batch_size": CategoricalDomain((16, 32, 64)),
        "reg.dropout": FloatDomain(0.0, 0.5),
        "reg.drop_path": FloatDomain(0.0, 0.3),
        "reg.weight_decay": FloatDomain(1e-5, 0.1, log=True),
        "reg.label_smoothing": FloatDomain(0.0, 0.2),
        "augment.crop_scale": FloatDomain(0.25, 1.0),
        "augment.flip": CategoricalDomain((True, False)),
        "augment.jitter": FloatDomain(0.0, 0.4),
        "augment.trivial": CategoricalDomain((False, True)),
        "augment.mixup": FloatDomain(0.0, 0.4),
        "augment.cutmix": FloatDomain(0.0, 1.0),
        **ssl_space(Modality.IMAGE, profile),
    }


_NAMES = {
    "backbone": "backbone",
    "resolution": "resolution",
    "finetune.mode": "mode",
    "finetune.blocks": "blocks",
    "finetune.layer_decay": "layer_decay",
    "lr": "lr",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "reg.dropout": "dropout",
    "reg.drop_path": "drop_path",
    "reg.weight_decay": "weight_decay",
    "reg.label_smoothing": "label_smoothing",
    "augment.crop_scale": "crop_scale",
    "augment.flip": "flip",
    "augment.jitter": "jitter",
    "augment.trivial": "trivial",
    "augment.mixup": "mixup",
    "augment.cutmix": "cutmix",
    **SSL_NAMES,
}


register(
    ComponentInfo(
        name="image_finetune",
        kind="learner",
        summary="fine-tune a pretrained backbone (head / last blocks / full) with augmentation",
        modalities=frozenset({Modality.IMAGE}),
        space=_space,
        build=estimator_builder(ImageFineTuner, _NAMES),
        defaults=lambda p: defaults_of(
            ImageFineTuner,
            _NAMES,
            backbone=(usable_backbones() or ["efficientnet_lite0"])[0],
            resolution=default_resolution(p),
        ),
        consumes="raw",
        cost=3,
        strategy="finetune",
        available=backbones_unavailable,
    )
)
