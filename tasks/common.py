"""Pieces the built-in tasks share: option parsing, the optimizer factory, data splits and
augmentation, the training loops (the networks are in :mod:`tasks.models`).

A task module stays short: it loads its data, builds its model from ``params`` with the
helpers here and hands both to :func:`fit_classifier` (or its own loop for forecasting).
Everything here is plain PyTorch; no torchvision.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bttackler.core.errors import BttacklerError

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "rmsprop", "adagrad", "adadelta")

# Options every task understands, name -> one-line help; tasks add their own.
COMMON_OPTIONS: dict[str, str] = {
    "epochs": "train at most this many epochs (1..MAX_EPOCHS; default MAX_EPOCHS)",
}


# --------------------------------------------------------------------------- options


def check_options(options: Mapping[str, str] | None, known: Mapping[str, str], task: str) -> dict:
    """Return ``options`` as a dict, raising :class:`BttacklerError` on an unknown key.

    A typo such as ``--task-opt epoch=2`` must not be silently ignored.
    """
    opts = dict(options or {})
    unknown = sorted(set(opts) - set(known))
    if unknown:
        raise BttacklerError(
            f"task {task}: unknown --task-opt {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    return opts


def int_option(
    options: Mapping[str, str], key: str, default: int, *, low: int = 1, high: int | None = None
) -> int:
    """An integer task option in ``[low, high]``, or ``default`` when absent."""
    raw = options.get(key)
    if raw is None:
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise BttacklerError(f"--task-opt {key}={raw}: expected an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise BttacklerError(f"--task-opt {key}={raw}: expected an integer in {bound}")
    return value


def epochs_option(options: Mapping[str, str], max_epochs: int) -> int:
    """The ``epochs`` knob: cap the number of epochs (never above the task's MAX_EPOCHS)."""
    return int_option(options, "epochs", max_epochs, low=1, high=max_epochs)


def epochs_function(max_epochs: int) -> Callable[[Mapping[str, str]], int]:
    """A task's ``epochs(options)``: the epochs its trials train under the ``epochs`` knob, so
    the runner stages the indicators on that count (``epochs = epochs_function(MAX_EPOCHS)``)."""

    def epochs(options: Mapping[str, str]) -> int:
        return epochs_option(options, max_epochs)

    return epochs


def trial_options(trial: Any) -> dict[str, str]:
    """``trial.options`` or an empty dict for trial objects that have none."""
    return dict(getattr(trial, "options", None) or {})


def trial_seed(trial: Any) -> int:
    """The trial's seed (independent of its parameters), 0 when the trial has none."""
    return int(getattr(trial, "seed", 0) or 0)


def trial_device(trial: Any) -> torch.device:
    return torch.device(getattr(trial, "device", None) or "cpu")


# --------------------------------------------------------------------------- params


def as_bool(value: Any) -> bool:
    """Read a boolean hyperparameter whatever the searcher handed back (bool, 0/1, "true")."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "on", "yes", "1"):
            return True
        if low in ("false", "off", "no", "0"):
            return False
        raise ValueError(f"not a boolean: {value!r}")
    return bool(value)


def as_int(value: Any) -> int:
    """Read a discrete hyperparameter (some searchers return 31.0 or numpy ints)."""
    return int(round(float(value)))


# --------------------------------------------------------------------------- factories


def make_optimizer(
    name: str, parameters: Iterable[torch.nn.Parameter], *, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """An optimizer by name (one of :data:`OPTIMIZERS`), library defaults otherwise."""
    classes: dict[str, Callable[..., torch.optim.Optimizer]] = {
        "sgd": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "rmsprop": torch.optim.RMSprop,
        "adagrad": torch.optim.Adagrad,
        "adadelta": torch.optim.Adadelta,
    }
    try:
        cls = classes[str(name)]
    except KeyError:
        raise ValueError(f"optimizer={name!r}: expected one of {OPTIMIZERS}") from None
    return cls(parameters, lr=float(lr), weight_decay=float(weight_decay))


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Split:
    """Inputs and integer labels of one split; inputs may be uint8 (converted per batch)."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} rows but y has {len(self.y)}")

    def __len__(self) -> int:
        return len(self.y)


def random_crop_flip(
    x: torch.Tensor, *, pad: int = 4, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random crop after zero padding by ``pad`` pixels, then a random horizontal flip.

    ``x`` is a float batch (N, C, H, W); each image gets its own offset and coin.
    """
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :]).to(x.device)  # (n, h)
    cols = (dx[:, None] + torch.arange(w)[None, :]).to(x.device)  # (n, w)
    idx_n = torch.arange(n, device=x.device)[:, None, None, None]
    idx_c = torch.arange(c, device=x.device)[None, :, None, None]
    out = padded[idx_n, idx_c, rows[:, None, :, None], cols[:, None, None, :]]
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


BatchFn = Callable[[torch.Tensor, bool], torch.Tensor]


def split_indices(
    n: int, *, val_fraction: float, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random train/validation partition of ``range(n)`` (same for every trial)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction={val_fraction}: expected 0 < val_fraction < 1")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = int(round(n * val_fraction))
    return order[n_val:], order[:n_val]


def image_splits(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    val_fraction: float,
    train_size: int | None = None,
    val_size: int | None = None,
    seed: int = 0,
) -> tuple[Split, Split]:
    """Training and validation splits of a labelled set, optionally capped in size.

    The partition is fixed by ``seed``; caps take a prefix of each (already random) part, so
    a smaller ``train_size`` is a subset of a larger one.
    """
    tr, va = split_indices(len(y), val_fraction=val_fraction, seed=seed)
    tr = tr[:train_size] if train_size else tr
    va = va[:val_size] if val_size else va
    return Split(x[tr], y[tr]), Split(x[va], y[va])


def channel_stats(x: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images (N, C, H, W) scaled to [0, 1], in chunks."""
    n, c = x.shape[0], x.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    for start in range(0, n, chunk):
        part = x[start : start + chunk].to(torch.float64) / 255.0
        total += part.sum(dim=(0, 2, 3))
        total_sq += (part * part).sum(dim=(0, 2, 3))
    count = n * x.shape[2] * x.shape[3]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-12).sqrt()
    return mean.float(), std.float()


def image_prepare(
    mean: torch.Tensor,
    std: torch.Tensor,
    *,
    augment: bool,
    generator: torch.Generator | None = None,
    as_rows: bool = False,
) -> BatchFn:
    """Batch transform for uint8 images (N, C, H, W): scale, augment when training, normalise.

    ``augment`` is random crop (pad 4) + horizontal flip, on training batches only.
    ``as_rows`` returns (N, H, C*W) sequences of rows for recurrent models.
    """

    def prepare(x: torch.Tensor, training: bool) -> torch.Tensor:
        out = x.float() / 255.0
        if augment and training:
            out = random_crop_flip(out, pad=4, generator=generator)
        m = mean.to(out.device)[None, :, None, None]
        s = std.to(out.device)[None, :, None, None]
        out = (out - m) / s
        if as_rows:
            n, c, h, w = out.shape
            out = out.permute(0, 2, 1, 3).reshape(n, h, c * w)
        return out

    return prepare


def _batches(n: int, batch_size: int, order: torch.Tensor | None) -> Iterable[torch.Tensor]:
    idx = order if order is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield idx[start : start + batch_size]


# --------------------------------------------------------------------------- training


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else float("nan")


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
    trial: Any,
    *,
    batch_size: int,
    epochs: int,
    prepare: BatchFn,
    generator: torch.Generator,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> None:
    """Train with cross-entropy, reporting train/val loss and accuracy after every epoch.

    ``prepare(x, training)`` turns a raw batch (already on the device) into model input:
    conversion, augmentation when ``training``, normalisation. A diverged trial keeps
    training and reports NaN losses: stopping it is the runner's job, not the task's.
    """
    device = next(model.parameters()).device
    # per-batch losses for the probe's record inside epoch 1 (PLC1); optional on a trial
    note_loss = getattr(trial, "batch_loss", None) or (lambda loss: None)
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
    trial: Any,
    *,
    batch_size: int,
    epochs: int,
    generator: torch.Generator,
) -> None:
    """Train with mean squared error on float targets (``Split.y`` of shape (N,)), reporting
    ``train_loss`` and ``val_mse`` after every epoch. Like :func:`fit_classifier`, a diverged
    trial keeps training and reports NaN."""
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
    trial: Any,
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
