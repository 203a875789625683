"""The zoo's trainings: data, models, optimizers, schedules and the training loop behind the
two zoo task files (``zoo_classify.py``, ``zoo_regress.py``).

Every training is one :class:`Recipe` (``recipes.py``) chosen by the trial's single parameter
``recipe``; the task files only say what they optimise. Nothing here is tuned to the
indicators: the recipes are what people train (deep MLPs at PyTorch's default initialisation,
Adam, warmups, frozen backbones, bf16 autocast), and whether a training is good or bad is read
from how it ended (``zoo_judge.py``), not from what its recipe intended.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from recipes import RECIPES, Recipe
from torch import nn

# --------------------------------------------------------------------------- data

# Where the pretrained backbone and the Fashion-MNIST blocks are kept (``--task-opt cache=``
# sets it for a run; the recorder points every run at one folder).
CACHE = Path(__file__).parent / ".cache"


@dataclass(frozen=True)
class Data:
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor


def _split(x: np.ndarray, y: np.ndarray, val: int, seed: int = 0) -> Data:
    order = np.random.default_rng(seed).permutation(len(y))
    tr, va = order[val:], order[:val]
    as_y = torch.float32 if y.dtype.kind == "f" else torch.int64
    return Data(
        torch.tensor(x[tr], dtype=torch.float32), torch.tensor(y[tr], dtype=as_y),
        torch.tensor(x[va], dtype=torch.float32), torch.tensor(y[va], dtype=as_y),
    )  # fmt: skip


def digits() -> Data:
    """scikit-learn's 1,797 8x8 digits, scaled to 0..1, 360 for validation."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return _split((d.images / 16.0).astype(np.float32), d.target.astype(np.int64), 360)


def fashion(offset: int = 0, train: int = 3000, val: int = 1000) -> Data:
    """A fixed subset of Debian's Fashion-MNIST (``offset`` picks a disjoint block), 0..1;
    the block is kept as ``.npz`` beside the backbone (decoding all 60,000 costs seconds)."""
    n = train + val
    block = CACHE / f"fashion-{offset}-{n}.npz"
    if block.is_file():
        with np.load(block) as saved:
            x, y = saved["x"], saved["y"]
    else:
        from bttackler.tasks.data.fashion_mnist import load

        data = load(None, download=False)
        x = data.train_x[offset : offset + n].astype(np.float32) / 255.0
        y = data.train_y[offset : offset + n].astype(np.int64)
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = block.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, x=x, y=y)
        os.replace(tmp, block)
    return _split(x, y, val)


def diabetes() -> Data:
    """scikit-learn's diabetes progression with its raw targets (25..346: not normalised)."""
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    return _split(d.data.astype(np.float32) * 10, d.target.astype(np.float32), 88)


DATASETS: dict[str, Callable[[], Data]] = {
    "digits": digits,
    "fashion": fashion,
    "diabetes": diabetes,
}

# --------------------------------------------------------------------------- models


def act(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU,
            "gelu": nn.GELU}[name]()  # fmt: skip


def norm(kind: str, width: int) -> list[nn.Module]:
    if kind == "batch":
        return [nn.BatchNorm1d(width)]
    if kind == "layer":
        return [nn.LayerNorm(width)]
    return []


def mlp(r: Recipe, n_in: int, n_out: int) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    width = n_in
    for _ in range(r.depth - 1):
        layers += [nn.Linear(width, r.width), *norm(r.norm, r.width), act(r.activation)]
        if r.dropout:
            layers.append(nn.Dropout(r.dropout))
        width = r.width
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    def __init__(self, width: int, activation: str, kind: str, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *norm(kind, width), nn.Linear(width, width), act(activation),
            nn.Dropout(dropout), nn.Linear(width, width),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def resmlp(r: Recipe, n_in: int, n_out: int) -> nn.Module:
    blocks = [ResBlock(r.width, r.activation, r.norm, r.dropout) for _ in range(r.depth)]
    return nn.Sequential(
        nn.Flatten(), nn.Linear(n_in, r.width), *blocks, *norm(r.norm, r.width),
        act(r.activation), nn.Linear(r.width, n_out),
    )  # fmt: skip


def cnn(r: Recipe, side: int, n_out: int) -> nn.Module:
    c = r.width
    layers: list[nn.Module] = []
    channels = 1
    for i, out in enumerate((c, c, 2 * c, 2 * c)[: r.depth]):
        layers += [nn.Conv2d(channels, out, 3, padding=1)]
        layers += [nn.BatchNorm2d(out)] if r.norm == "batch" else []
        layers += [act(r.activation)]
        if i % 2 == 1 and side > 4:
            layers.append(nn.MaxPool2d(2))
            side //= 2
        channels = out
    layers += [nn.Flatten(), nn.Dropout(r.dropout), nn.Linear(channels * side * side, n_out)]
    return nn.Sequential(nn.Unflatten(1, (1, -1)), *layers)


class Recurrent(nn.Module):
    """Rows of an image as a sequence (8 steps of 8 for digits, 28 of 28 for Fashion)."""

    def __init__(self, r: Recipe, n_in: int, n_out: int) -> None:
        super().__init__()
        cell = nn.GRU if r.arch == "gru" else nn.LSTM
        self.rnn = cell(n_in, r.width, num_layers=r.depth, batch_first=True,
                        dropout=r.dropout if r.depth > 1 else 0.0)  # fmt: skip
        self.head = nn.Linear(r.width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


class Encoder(nn.Module):
    """A small Transformer encoder over image rows, with a learned position embedding."""

    def __init__(self, r: Recipe, steps: int, n_in: int, n_out: int) -> None:
        super().__init__()
        self.embed = nn.Linear(n_in, r.width)
        self.position = nn.Parameter(torch.zeros(1, steps, r.width))
        layer = nn.TransformerEncoderLayer(
            r.width, nhead=4, dim_feedforward=2 * r.width, dropout=r.dropout,
            batch_first=True, norm_first=r.norm == "prenorm",
        )  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, r.depth, enable_nested_tensor=False)
        self.head = nn.Linear(r.width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x) + self.position).mean(1))


class FineTune(nn.Module):
    """A pretrained CNN backbone, frozen, under a new head: only the head trains."""

    def __init__(self, backbone: nn.Module, features: int, r: Recipe, n_out: int) -> None:
        super().__init__()
        self.backbone = backbone
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        head: list[nn.Module] = []
        width = features
        for _ in range(r.depth - 1):
            head += [nn.Linear(width, r.width), act(r.activation), nn.Dropout(r.dropout)]
            width = r.width
        self.head = nn.Sequential(*head, nn.Linear(width, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.backbone.eval()  # frozen: BatchNorm keeps its pretrained statistics
        return self.head(self.backbone(x))


def backbone() -> tuple[nn.Module, int]:
    """A CNN trained for 3 epochs on a Fashion-MNIST block the fine-tunes never see
    (``fashion(offset=20000)``), cached in ``cache`` (written once, atomically)."""
    net = nn.Sequential(
        nn.Unflatten(1, (1, -1)), nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
    )  # fmt: skip
    features = 32 * 7 * 7
    path = CACHE / "backbone-fashion.pt"
    if path.is_file():
        net.load_state_dict(torch.load(path))
        return net, features
    gen = torch.Generator().manual_seed(1234)
    torch.manual_seed(1234)
    data = fashion(offset=20000, train=6000, val=10)
    head = nn.Linear(features, 10)
    model = nn.Sequential(net, head)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(3):
        for idx in batches(len(data.train_y), 64, gen):
            opt.zero_grad()
            F.cross_entropy(model(data.train_x[idx]), data.train_y[idx]).backward()
            opt.step()
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(net.state_dict(), tmp)
    os.replace(tmp, path)
    return net, features


def build(r: Recipe, data: Data) -> nn.Module:
    shape = tuple(data.train_x.shape[1:])
    n_out = 1 if r.dataset == "diabetes" else 10
    n_in = int(np.prod(shape))
    if r.arch == "mlp":
        return mlp(r, n_in, n_out)
    if r.arch == "resmlp":
        return resmlp(r, n_in, n_out)
    if r.arch == "cnn":
        return cnn(r, shape[0], n_out)
    if r.arch in ("gru", "lstm"):
        return Recurrent(r, shape[1], n_out)
    if r.arch == "transformer":
        return Encoder(r, shape[0], shape[1], n_out)
    if r.arch == "finetune":
        net, features = backbone()
        return FineTune(net, features, r, n_out)
    raise ValueError(f"unknown arch {r.arch!r}")


# --------------------------------------------------------------------------- optimisation


def optimizer(r: Recipe, params: Any) -> torch.optim.Optimizer:
    lr, wd = r.lr, r.weight_decay
    if r.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if r.optimizer == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)
    if r.optimizer == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
    classes = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
               "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad,
               "adadelta": torch.optim.Adadelta}  # fmt: skip
    return classes[r.optimizer](params, lr=lr, weight_decay=wd)


def lr_factor(r: Recipe, step: int, steps_per_epoch: int) -> float:
    """The schedule's multiplier of the base learning rate at optimizer step ``step``:
    ``constant``; ``warmup`` (linear from ``warmup_start`` over ``warmup`` epochs, then as
    the schedule says);
    ``cosine`` (after the warmup, if any, down to 0 at the last step); ``step`` (x ``gamma``
    every ``step_every`` epochs)."""
    total = max(1, r.epochs * steps_per_epoch)
    warm = r.warmup * steps_per_epoch
    if warm and step < warm:
        return r.warmup_start + (1.0 - r.warmup_start) * step / warm
    if r.schedule == "cosine":
        progress = (step - warm) / max(1, total - warm)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    if r.schedule == "step":
        return r.gamma ** ((step // steps_per_epoch) // r.step_every)
    return 1.0


def batches(n: int, size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, generator=gen)
    for start in range(0, n, size):
        yield order[start : start + size]


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else math.nan


def train(r: Recipe, trial: Any) -> None:
    """Train recipe ``r`` for ``r.epochs`` epochs under ``trial`` and report every epoch."""
    torch.manual_seed(trial.seed)
    gen = torch.Generator().manual_seed(trial.seed)
    data = DATASETS[r.dataset]()
    regression = r.dataset == "diabetes"
    model = build(r, data)
    if r.bias_init:
        for m in model.modules():
            if isinstance(m, nn.Linear | nn.Conv2d) and m.bias is not None:
                nn.init.constant_(m.bias, r.bias_init)
    if r.init_scale != 1.0:
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Linear | nn.Conv2d):
                    m.weight.mul_(r.init_scale)
    opt = optimizer(r, [p for p in model.parameters() if p.requires_grad])
    trial.watch(model)
    steps_per_epoch = math.ceil(len(data.train_y) / r.batch)
    step = 0
    for epoch in range(r.epochs):
        model.train()
        loss_sum = 0.0
        for idx in batches(len(data.train_y), r.batch, gen):
            for group in opt.param_groups:
                group["lr"] = r.lr * lr_factor(r, step, steps_per_epoch)
            xb, yb = data.train_x[idx], data.train_y[idx]
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=r.bf16):
                out = model(xb)
            out = out.float()
            if regression:
                loss = F.mse_loss(out.squeeze(-1), yb)
            else:
                loss = F.cross_entropy(out, yb, label_smoothing=r.label_smoothing)
            loss.backward()
            opt.step()
            step += 1
            value = float(loss.detach())
            trial.batch_loss(value)
            loss_sum += value * len(idx)
        model.eval()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=r.bf16):
            out = model(data.val_x).float()
        metrics: dict[str, float] = {"train_loss": _finite(loss_sum / len(data.train_y))}
        if regression:
            metrics["val_mse"] = _finite(float(F.mse_loss(out.squeeze(-1), data.val_y)))
        else:
            metrics["val_loss"] = _finite(float(F.cross_entropy(out, data.val_y)))
            metrics["val_acc"] = float((out.argmax(1) == data.val_y).float().mean())
        trial.report(epoch, **metrics)


MAX_EPOCHS = 50
OPTIONS = {"epochs": "the recipe's epochs", "cache": "folder of the pretrained backbone"}


def epochs(options: Mapping[str, str]) -> int:
    """The zoo tasks' ``epochs``: what ``--task-opt epochs=N`` says (the recorder passes the
    recipe's), so the indicators' stages follow the recipe."""
    return int(options.get("epochs", MAX_EPOCHS))


def run(params: Mapping[str, Any], trial: Any) -> None:
    """The zoo tasks' ``run``: the recipe named by the trial's one parameter ``recipe``."""
    recipe = RECIPES[str(params["recipe"])]
    if recipe.epochs != epochs(trial.options):
        raise ValueError(f"{recipe.name} trains {recipe.epochs} epochs: pass --task-opt epochs=")
    global CACHE
    CACHE = Path(trial.options.get("cache") or CACHE)
    train(recipe, trial)
