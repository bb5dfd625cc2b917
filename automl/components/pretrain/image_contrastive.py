"""Contrastive continued pretraining of an image backbone on the unlabelled pool.

Two views of each image come from the augmentation pipeline the fine-tuner uses (random
resized crop, flip, colour jitter); a small projection head maps the backbone's features to a
128-d space where the two views of an image must be closer than any other pair:

- ``simclr``: NT-Xent over the 2N views of a batch (Chen et al., 2020).
- ``moco``: the second view goes through a momentum copy of the network, and the negatives come
  from a queue of earlier keys, so there are many more negatives than one CPU batch holds
  (He et al., 2020; the MLP head and augmentations of MoCo v2).

Only the backbone's state dict is kept; the projection head is thrown away, as in both papers.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from automl.components.images.transforms import AugmentSpec
from automl.components.pretrain.base import SSLMethodInfo, chosen_method, register_method
from automl.components.pretrain.checkpoint import TrainingRun, adapted_checkpoint, select_pool
from automl.components.runtime import Runtime, one_off_limit
from automl.data.dataset import Modality

# 96 px: a forward+backward pass costs ~(96/224)^2 = 18% of the native resolution; the
# adapted backbone then serves every resolution the embedder and fine-tuner search.
RESOLUTION = 96
BATCH_SIZE = 32  # 64 views per step; ~63 steps per epoch over a 2,000-image pool
MAX_ITEMS = 2000
TEMPERATURE = 0.2  # MoCo v2's; SimCLR's 0.5 assumes batches of thousands
LR = 1e-4  # AdamW on a pretrained backbone: adapts without wiping the ImageNet features
HEAD_LR = 1e-3
QUEUE = 1024  # MoCo negatives: 32x the batch, small enough to stay fresh over ~60 steps/epoch
MOMENTUM = 0.99  # MoCo's 0.999 suits 100k+ steps; a few hundred need a faster key encoder
# Strong views, as both methods need: crops down to 20% of the image, flips, colour jitter.
SSL_AUGMENT = AugmentSpec(crop_scale=0.2, flip=True, jitter=0.4)
FILE_NAME = "backbone.pt"


def _projection(dim: int):
    import torch.nn as nn

    return nn.Sequential(nn.Linear(dim, 512), nn.ReLU(inplace=True), nn.Linear(512, 128))


def _freeze_batchnorm(model) -> None:
    # Frozen BatchNorm statistics: a CPU batch of 32 gives noisy estimates that would drift
    # from the pretrained ones, and MoCo without shuffled BN could match keys through them.
    import torch.nn as nn

    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def nt_xent(z1, z2, temperature: float = TEMPERATURE):
    """SimCLR's loss: for each of the 2N views, its partner is the positive, the other 2N-2
    views are negatives."""
    import torch
    import torch.nn.functional as F

    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, target)


def _batches(images, run: TrainingRun, epochs: int, seed: int, transform):
    import torch

    rng = np.random.default_rng(seed)
    run.plan(int(np.ceil(len(images) / BATCH_SIZE)))
    for _ in range(epochs):
        order = rng.permutation(len(images))
        for i in range(0, len(order) - 1, BATCH_SIZE):
            idx = order[i : i + BATCH_SIZE]
            if run.out_of_time():
                return
            if len(idx) < 2:  # a contrastive batch needs a negative
                continue
            yield (
                torch.stack([transform(images[j]) for j in idx]),
                torch.stack([transform(images[j]) for j in idx]),
            )


def _optimizer(body, head, steps: int):
    import torch

    opt = torch.optim.AdamW(
        [{"params": body.parameters(), "lr": LR}, {"params": head.parameters(), "lr": HEAD_LR}],
        weight_decay=1e-4,
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    return opt, sched


def train_simclr(
    body, images: list, run: TrainingRun, epochs: int, seed: int, transform, device: str = "cpu"
) -> None:
    import torch

    torch.manual_seed(seed)
    head = _projection(body.num_features).to(device)
    opt, sched = _optimizer(body, head, epochs * int(np.ceil(len(images) / BATCH_SIZE)))
    body.train()
    _freeze_batchnorm(body)
    for x1, x2 in _batches(images, run, epochs, seed, transform):
        loss = nt_xent(head(body(x1.to(device))), head(body(x2.to(device))))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run.log_step(loss.item())
    body.eval()


def train_moco(
    body, images: list, run: TrainingRun, epochs: int, seed: int, transform, device: str = "cpu"
) -> None:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    head = _projection(body.num_features).to(device)
    key_body, key_head = copy.deepcopy(body).eval(), copy.deepcopy(head)
    for p in [*key_body.parameters(), *key_head.parameters()]:
        p.requires_grad_(False)
    queue = F.normalize(torch.randn(QUEUE, 128, device=device), dim=1)
    ptr = 0
    opt, sched = _optimizer(body, head, epochs * int(np.ceil(len(images) / BATCH_SIZE)))
    body.train()
    _freeze_batchnorm(body)
    for xq, xk in _batches(images, run, epochs, seed, transform):
        q = F.normalize(head(body(xq.to(device))), dim=1)
        with torch.no_grad():
            for online, key in ((body, key_body), (head, key_head)):
                for po, pk in zip(online.parameters(), key.parameters()):
                    pk.mul_(MOMENTUM).add_(po.detach(), alpha=1 - MOMENTUM)
            k = F.normalize(key_head(key_body(xk.to(device))), dim=1)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], dim=1) / TEMPERATURE
        loss = F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run.log_step(loss.item())
        with torch.no_grad():  # enqueue the newest keys over the oldest
            slots = (ptr + torch.arange(len(k), device=device)) % QUEUE
            queue[slots] = k
            ptr = int((ptr + len(k)) % QUEUE)
    body.eval()


register_method(
    SSLMethodInfo(
        name="simclr",
        modality=Modality.IMAGE,
        summary="SimCLR: NT-Xent between two augmented views of each pool image",
        reference="Chen et al. 2020 (SimCLR)",
        train=train_simclr,
    )
)
register_method(
    SSLMethodInfo(
        name="moco",
        modality=Modality.IMAGE,
        summary="MoCo v2: momentum key encoder and a queue of negatives",
        reference="He et al. 2020; Chen et al. 2020 (MoCo v2)",
        train=train_moco,
    )
)


def adapt_image_backbone(
    backbone: str,
    pool_paths: Any,
    method: str = "simclr",
    epochs: int = 1,
    resolution: int = RESOLUTION,
    seed: int = 0,
    cache_dir: str | None = None,
    time_limit: float | None = None,
    n_jobs: int = 1,
    device: str = "cpu",
    max_items: int = MAX_ITEMS,
) -> Path:
    """The folder holding ``backbone.pt``, ``backbone`` adapted on the images ``pool_paths``
    (trained now, or from the cache)."""
    from automl.components.images.backbones import BACKBONES, create_backbone
    from automl.components.images.transforms import train_transform
    from automl.components.pretrain.base import SSL_METHODS

    info, binfo = SSL_METHODS.get(method), BACKBONES.get(backbone)
    paths, keys = select_pool(pool_paths, max_items, seed)
    parts = {
        "kind": "image",
        "method": method,
        "recipe": "v1",
        "backbone": backbone,
        "weights": binfo.weights()[1],
        "epochs": int(epochs),
        "seed": int(seed),
        "resolution": int(resolution),
        "batch_size": BATCH_SIZE,
    }

    def train(folder: Path, run: TrainingRun) -> None:
        import torch

        torch.set_num_threads(max(1, n_jobs))
        body = create_backbone(backbone).to(device)
        transform = train_transform(resolution, binfo.mean, binfo.std, SSL_AUGMENT)
        images = [_small_rgb(p, 2 * resolution) for p in paths]  # decode once, augment per step
        info.train(body, images, run, int(epochs), int(seed), transform, device=device)
        torch.save({k: v.cpu() for k, v in body.state_dict().items()}, folder / FILE_NAME)

    return adapted_checkpoint(cache_dir, parts, keys, train, time_limit)


def _small_rgb(path: str, side: int):
    from automl.data.images import read_rgb

    img = read_rgb(path)
    if max(img.size) > side:  # 2,000 decoded photos at full size would not fit in memory
        img.thumbnail((side, side))
    return img


def adapted_backbone(backbone: str, method: str, epochs: int, seed: int, runtime: Runtime) -> Path | None:
    """For an estimator's ``fit``: the folder of ``backbone`` adapted with ``method`` on the
    runtime's pool (None for ``none``)."""
    if chosen_method(method, runtime.unlabelled, Modality.IMAGE) is None:
        return None
    return adapt_image_backbone(
        backbone,
        runtime.unlabelled,
        method,
        epochs,
        seed=seed,
        cache_dir=runtime.cache_dir,
        time_limit=one_off_limit(runtime),
        n_jobs=runtime.n_jobs,
        device=runtime.device,
    )


def adapted_state(folder: Path) -> dict:
    """The adapted backbone's weights as CPU tensors, to keep inside a fitted model."""
    import torch

    return torch.load(Path(folder) / FILE_NAME, map_location="cpu", weights_only=True)
