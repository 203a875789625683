"""Is the training loss clearly falling? The second signal the pace indicators ask for.

A small gradient or a small step is not a problem by itself: Adam, RMSprop and Adagrad rescale
every step, a deep net at PyTorch's default initialisation starts with tiny gradients and
leaves that saddle within an epoch or two, a warmup makes the first steps small on purpose,
and a frozen backbone never moves. What all of those share with a healthy training and not
with a stuck one is that the loss falls. So a pace verdict (TWU, VGM) also needs the loss not
to be clearly falling, whatever the optimizer, schedule or architecture. The loss read is the
training loss, or the lower of it and the validation loss where the task reports both
(dropout keeps the training loss of a net that learns up).

*Where the loss started* is the task's ``CHANCE_LOSS`` when it has one (the loss of a model
that learned nothing): a loss still near chance is not learning however far it fell to get
there (a net whose first batches' loss exploded to 1e3 and came back to ln 10 is dead). Without
it, the highest of what is known: the mean loss of the first training batches (the probe's
record inside epoch 1, when the task calls ``trial.batch_loss``) and epoch 1's training loss;
the highest counts a fall from either, the safe direction, since sparing a slow trial costs
less than killing a good one.
"""

from __future__ import annotations

import math

from bttackler.core.history import TrialHistory

LOSS = "train_loss"
VAL_LOSS = "val_loss"


def loss_start(history: TrialHistory) -> float | None:
    """Where the training loss started (module docstring), or None when nothing says."""
    if math.isfinite(history.chance_loss) and history.chance_loss > 0:
        return history.chance_loss
    candidates = []
    if history.early is not None:
        candidates.append(history.early.loss_first)
    if history.epochs:
        candidates.append(float(history.epochs[0].metrics.get(LOSS, math.nan)))
    finite = [c for c in candidates if math.isfinite(c) and c > 0]
    return max(finite) if finite else None


def latest_loss(history: TrialHistory) -> float:
    """The newest epoch's training loss, or the lower of it and ``val_loss`` where the task
    reports both: dropout keeps the training loss of a net that learns up (SAC and ULC read
    the same); NaN without a finite training loss."""
    metrics = history.epochs[-1].metrics
    train = float(metrics.get(LOSS, math.nan))
    if not math.isfinite(train):
        return math.nan
    val = float(metrics.get(VAL_LOSS, math.nan))
    return min(train, val) if math.isfinite(val) else train


def loss_drop(history: TrialHistory) -> float | None:
    """How far the newest epoch's loss (:func:`latest_loss`) lies below where it started, as a
    share of the start (0.3: 30% lower; negative: higher); None without a finite loss or
    start."""
    if not history.epochs:
        return None
    latest = latest_loss(history)
    start = loss_start(history)
    if start is None or not math.isfinite(latest):
        return None
    return 1.0 - latest / start


def clearly_falling(history: TrialHistory, min_drop: float) -> bool:
    """The training loss is at least ``min_drop`` (a share) below where it started."""
    drop = loss_drop(history)
    return drop is not None and drop >= min_drop


__all__ = ["clearly_falling", "latest_loss", "loss_drop", "loss_start"]
