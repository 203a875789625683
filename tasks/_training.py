"""The training loops of the built-in tasks: cross-entropy classification and MSE regression
on :class:`~bttackler.tasks._splits.Split` data, reporting every epoch to the trial, and the
whole ``run`` of the small tasks built on them.

A diverged trial keeps training and reports NaN losses: stopping it is the runner's job, not
the task's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from bttackler.tasks._optimizers import make_optimizer
from bttackler.tasks._params import as_int
from bttackler.tasks._settings import (
    check_options,
    epochs_option,
    trial_device,
    trial_options,
    trial_seed,
)
from bttackler.tasks._splits import Split
from torch import nn

from bttackler.trialside.protocol import BatchLossReporter, Reporter, Trial

# ``prepare(x, training)``: a raw batch (already on the device) -> model input.
BatchFn = Callable[[torch.Tensor, bool], torch.Tensor]


def _batches(n: int, batch_size: int, order: torch.Tensor | None) -> Iterable[torch.Tensor]:
    idx = order if order is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield idx[start : start + batch_size]


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else float("nan")


def _ignore_loss(loss: float) -> None:
    """Where the batch losses go for a trial without ``batch_loss``: nowhere."""


def evaluate_classifier(
    model: nn.Module,
    data: Split,
    *,
    prepare: BatchFn,
    device: torch.device,
    batch_size: int = 1000,
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``data`` (eval mode, no gradients)."""
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for idx in _batches(len(data), batch_size, None):
            xb = prepare(data.x[idx].to(device), False)
            yb = data.y[idx].to(device)
            out = model(xb)
            loss_sum += float(F.cross_entropy(out, yb, reduction="sum"))
            correct += int((out.argmax(1) == yb).sum())
    return _finite(loss_sum / len(data)), correct / len(data)


def train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor
) -> tuple[float, int]:
    """One optimisation step with cross-entropy on a batch; returns the sum of the batch's
    losses and its number of correct predictions."""
    optimizer.zero_grad(set_to_none=True)
    out = model(xb)
    loss = F.cross_entropy(out, yb)
    loss.backward()
    optimizer.step()
    return float(loss.detach()) * len(yb), int((out.detach().argmax(1) == yb).sum())


def fit_classifier(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: Split,
    val: Split,
    trial: Reporter,
    *,
    batch_size: int,
    epochs: int,
    prepare: BatchFn,
    generator: torch.Generator,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> None:
    """Train with cross-entropy, reporting train/val loss and accuracy after every epoch.

    ``prepare(x, training)`` turns a raw batch (already on the device) into model input:
    conversion, augmentation when ``training``, normalisation. Each batch's loss also goes to
    ``trial.batch_loss`` when the trial takes it (the probe's record inside epoch 1, PLC1).
    """
    device = next(model.parameters()).device
    note_loss = trial.batch_loss if isinstance(trial, BatchLossReporter) else _ignore_loss
    for epoch in range(epochs):
        model.train()
        loss_sum, correct = 0.0, 0
        order = torch.randperm(len(train), generator=generator)
        for idx in _batches(len(train), batch_size, order):
            xb = prepare(train.x[idx].to(device), True)
            batch_loss, batch_correct = train_step(model, optimizer, xb, train.y[idx].to(device))
            note_loss(batch_loss / len(idx))
            loss_sum += batch_loss
            correct += batch_correct
        if scheduler is not None:
            scheduler.step()
        val_loss, val_acc = evaluate_classifier(model, val, prepare=prepare, device=device)
        trial.report(
            epoch,
            train_loss=_finite(loss_sum / len(train)),
            train_acc=correct / len(train),
            val_loss=val_loss,
            val_acc=val_acc,
        )


def fit_regressor(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: Split,
    val: Split,
    trial: Reporter,
    *,
    batch_size: int,
    epochs: int,
    generator: torch.Generator,
) -> None:
    """Train with mean squared error on float targets (``Split.y`` of shape (N,)), reporting
    ``train_loss`` and ``val_mse`` after every epoch."""
    device = next(model.parameters()).device
    for epoch in range(epochs):
        model.train()
        loss_sum = 0.0
        order = torch.randperm(len(train), generator=generator)
        for idx in _batches(len(train), batch_size, order):
            xb, yb = train.x[idx].to(device), train.y[idx].to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = F.mse_loss(model(xb).squeeze(-1), yb)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(idx)
        model.eval()
        with torch.no_grad():
            pred = model(val.x.to(device)).squeeze(-1)
            val_mse = float(F.mse_loss(pred, val.y.to(device)))
        trial.report(epoch, train_loss=_finite(loss_sum / len(train)), val_mse=_finite(val_mse))


def run_small_net(
    params: Mapping[str, Any],
    trial: Trial,
    *,
    task: str,
    options_spec: Mapping[str, str],
    max_epochs: int,
    build_model: Callable[[Mapping[str, Any]], nn.Module],
    load: Callable[[Mapping[str, str]], tuple[Split, Split]],
    regression: bool = False,
) -> None:
    """The whole ``run`` of the small built-in tasks (digits, fashionmlp, diabetesmlp): check
    the options, seed, build the model and its optimizer from ``params``, watch it, and train
    for the ``epochs`` knob's epochs, classifying (cross-entropy) or regressing (MSE)."""
    options = check_options(trial_options(trial), options_spec, task)
    epochs = epochs_option(options, max_epochs)
    seed = trial_seed(trial)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    train, val = load(options)
    model = build_model(params).to(trial_device(trial))
    optimizer = make_optimizer(
        str(params["optimizer"]),
        model.parameters(),
        lr=float(params["lr"]),
        weight_decay=float(params["weight_decay"]),
    )
    trial.watch(model)
    batch_size = as_int(params["batch_size"])
    if regression:
        fit_regressor(model, optimizer, train, val, trial, batch_size=batch_size,
                      epochs=epochs, generator=generator)  # fmt: skip
    else:
        fit_classifier(model, optimizer, train, val, trial, batch_size=batch_size,
                       epochs=epochs, prepare=lambda x, training: x,
                       generator=generator)  # fmt: skip
