"""The one epoch loop every torch learner uses (image and text fine-tuning, the audio CNN).

Each learner supplies its modules, one epoch of training and a validation score; the loop
owns what they share: the time limit, early stopping on the inner validation split of the
training fold, and restoring the best epoch's weights. Only the training fold is ever split,
so the outer CV score stays honest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from automl.components.runtime import TimeLimit
from automl.logger import log


def schedule_done(done: int, planned: int, limit: TimeLimit) -> float:
    """Share of the planned training that ran: 1 unless the time limit cut it short (an early
    stop on the inner split ends a schedule as planned)."""
    return min(1.0, done / max(planned, 1)) if limit.reached else 1.0


def train_epochs(
    modules: Sequence,
    epochs: int,
    train_epoch: Callable[[int], None],
    validate: Callable[[], float] | None,
    limit: TimeLimit,
    patience: int | None = None,
    name: str = "training",
) -> int:
    """Run up to ``epochs`` epochs; returns how many ran.

    ``validate()`` scores the inner validation split (higher is better); None means there is
    none (a class too small to split) and the last epoch is kept. Ties keep the later,
    longer-trained weights. ``patience`` epochs without improvement stop the loop; None keeps
    training to the end and still restores the best epoch.
    """
    best, best_state, bad, done = float("-inf"), None, 0, 0
    for epoch in range(epochs):
        if limit.out_of_time():
            log.debug("%s: time limit reached after %d epochs", name, epoch)
            break
        train_epoch(epoch)
        done = epoch + 1
        if validate is None:
            continue
        score = validate()
        if score >= best:
            best, bad = score, 0
            best_state = [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in modules]
        else:
            bad += 1
            if patience is not None and bad >= patience:
                break
    if best_state is not None:
        for m, state in zip(modules, best_state):
            m.load_state_dict(state)
    for m in modules:
        m.eval()
    return done
