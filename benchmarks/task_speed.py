"""Seconds per epoch of each built-in task on this CPU, for a mid-range configuration.

The numbers a user needs to choose a ``--budget`` and the ``epochs`` / ``train_size`` knobs.
Data are generated in the real shapes (CIFAR-10 40k/10k 3x32x32, Fashion-MNIST 10k/2k
1x28x28 by default, exchange rate 7588x8, Garch 1867x5), so no download is needed; digits
uses its real data. Each task's model, optimizer, batch transform and loss are the task's
own; a number of training steps and evaluation batches are timed after a warm-up and scaled
to a full epoch (training + validation, + test for the forecasters).

Usage: python benchmarks/task_speed.py [--threads 1] [--steps 8] [--tasks cifar10cnn,...]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from _common import DIGITS
from bttackler.tasks import digits, ex96trans
from bttackler.tasks._image_tasks import build_convnet, build_row_lstm
from bttackler.tasks._images import image_prepare
from bttackler.tasks._optimizers import make_optimizer
from torch import nn


@dataclass(frozen=True)
class Case:
    """One task: its model and a way to make a training batch and an evaluation batch."""

    name: str
    config: str
    model: nn.Module
    optimizer: torch.optim.Optimizer
    batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]]
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    batch_size: int
    n_train: int
    n_eval: int  # validation (+ test) samples evaluated per epoch


CNN: dict[str, Any] = {
    "lr": 0.01,
    "weight_decay": 1e-4,
    "dropout": 0.4,
    "conv1": 20,
    "conv2": 48,
    "conv3": 96,
    "conv4": 96,
    "hidden": 500,
    "kernel_size": 3,
    "activation": "relu",
    "optimizer": "adam",
    "batch_size": 180,
    "batch_norm": True,
}
LSTM: dict[str, Any] = {
    "lr": 0.003,
    "weight_decay": 1e-4,
    "dropout": 0.3,
    "hidden_size": 144,
    "num_layers": 2,
    "bidirectional": True,
    "optimizer": "adam",
    "batch_size": 180,
}
TRANS: dict[str, Any] = {
    "lr": 1e-4,
    "e_layers": 2,
    "d_layers": 2,
    "n_heads": 10,
    "d_ff": 1536,
    "d_model": 512,
    "batch_size": 32,
    "dropout": 0.1,
}
GARCH_TRANS: dict[str, Any] = {**TRANS, "d_model": 64, "d_ff": 160}


def _optimizer(model: nn.Module, params: dict[str, Any]) -> torch.optim.Optimizer:
    return make_optimizer(
        str(params["optimizer"]),
        model.parameters(),
        lr=float(params["lr"]),
        weight_decay=float(params["weight_decay"]),
    )


def image_case(
    name: str, params: dict[str, Any], *, shape: tuple[int, int, int], n_train: int, n_val: int
) -> Case:
    c, h, w = shape
    lstm = "hidden_size" in params
    augment = name == "cifar10cnn"
    g = torch.Generator().manual_seed(0)
    prepare = image_prepare(
        torch.full((c,), 0.5), torch.full((c,), 0.25), augment=augment, generator=g, as_rows=lstm
    )
    if lstm:
        model: nn.Module = build_row_lstm(params, (c, h, w))
        config = (
            "hidden {hidden_size}, {num_layers} layers, bidirectional, adam, batch {batch_size}"
        )
    else:
        model = build_convnet(params, (c, h, w))
        config = "conv {conv1}/{conv2}/{conv3}/{conv4}, fc {hidden}, k{kernel_size}, bn, adam, batch {batch_size}"  # noqa: E501

    def batch(size: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randint(0, 256, (size, c, h, w), dtype=torch.uint8)
        return prepare(x, True), torch.randint(0, 10, (size,))

    return Case(
        name=name,
        config=config.format(**params),
        model=model,
        optimizer=_optimizer(model, params),
        batch=batch,
        loss=F.cross_entropy,
        batch_size=int(params["batch_size"]),
        n_train=n_train,
        n_eval=n_val,
    )


def forecast_case(
    name: str, params: dict[str, Any], *, channels: int, n_train: int, n_eval: int
) -> Case:
    model = ex96trans.build_model(params, channels=channels)

    def batch(size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(size, ex96trans.IN_LEN, channels), torch.randn(
            size, ex96trans.OUT_LEN, channels
        )

    return Case(
        name=name,
        config="d_model {d_model}, {n_heads} heads, {e_layers}+{d_layers} layers, ff {d_ff}, batch {batch_size}".format(  # noqa: E501
            **params
        ),
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=float(params["lr"])),
        batch=batch,
        loss=F.mse_loss,
        batch_size=int(params["batch_size"]),
        n_train=n_train,
        n_eval=n_eval,
    )


def cases() -> dict[str, Callable[[], Case]]:
    return {
        "cifar10cnn": lambda: image_case(
            "cifar10cnn", CNN, shape=(3, 32, 32), n_train=40000, n_val=10000
        ),
        "cifar10lstm": lambda: image_case(
            "cifar10lstm", LSTM, shape=(3, 32, 32), n_train=40000, n_val=10000
        ),
        # Windows: 5120 training, 665 validation + 1422 test (evaluated every epoch).
        "ex96trans": lambda: forecast_case(
            "ex96trans", TRANS, channels=8, n_train=5120, n_eval=665 + 1422
        ),
        "fashioncnn": lambda: image_case(
            "fashioncnn", CNN, shape=(1, 28, 28), n_train=10000, n_val=2000
        ),
        "fashionlstm": lambda: image_case(
            "fashionlstm", LSTM, shape=(1, 28, 28), n_train=10000, n_val=2000
        ),
        "garchtrans": lambda: forecast_case(
            "garchtrans", GARCH_TRANS, channels=5, n_train=1115, n_eval=93 + 278
        ),
    }


def time_case(case: Case, steps: int, eval_batches: int) -> tuple[float, float]:
    """(seconds per training step, seconds per evaluated sample), after one warm-up step."""
    model, opt = case.model, case.optimizer
    model.train()
    for i in range(steps + 1):
        x, y = case.batch(case.batch_size)
        if i == 1:
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        case.loss(model(x), y).backward()
        opt.step()
    per_step = (time.perf_counter() - start) / steps
    model.eval()
    eval_size = 256
    with torch.no_grad():
        x, _ = case.batch(eval_size)
        model(x)
        start = time.perf_counter()
        for _ in range(eval_batches):
            model(x)
    per_sample = (time.perf_counter() - start) / (eval_batches * eval_size)
    return per_step, per_sample


def time_digits() -> float:
    """A real digits epoch (real data), second epoch of a two-epoch trial."""

    class Clock:
        options = {"epochs": "2"}
        seed = 0
        device = torch.device("cpu")
        data_dir = None

        def __init__(self) -> None:
            self.times: list[float] = []

        def watch(self, model: nn.Module) -> None:
            self.times.append(time.perf_counter())

        def report(self, epoch: int, **metrics: float) -> None:
            self.times.append(time.perf_counter())

    clock = Clock()
    digits.run(dict(DIGITS), clock)
    return clock.times[2] - clock.times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per task")
    parser.add_argument("--eval-batches", type=int, default=2, help="timed eval batches (256)")
    parser.add_argument("--tasks", default="", help="comma-separated subset (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    wanted = [t for t in args.tasks.split(",") if t] or ["digits", *cases()]

    print(f"torch {torch.__version__}, {args.threads} thread(s); s/epoch = train + evaluation")
    print(f"{'task':<12} {'s/step':>8} {'steps':>6} {'s/epoch':>9} {'20 epochs':>10}  config")
    for name in wanted:
        if name == "digits":
            epoch = time_digits()
            steps = math.ceil(len(digits.load_split()[0]) / int(DIGITS["batch_size"]))
            print(
                f"{name:<12} {epoch / steps:>8.3f} {steps:>6} {epoch:>9.1f} "
                f"{20 * epoch / 60:>8.1f}m  real data, conv 10/20/24/24, fc 136, adam, batch 64"
            )
            continue
        case = cases()[name]()
        per_step, per_sample = time_case(case, args.steps, args.eval_batches)
        steps = math.ceil(case.n_train / case.batch_size)
        epoch = per_step * steps + per_sample * case.n_eval
        print(
            f"{name:<12} {per_step:>8.3f} {steps:>6} {epoch:>9.1f} {20 * epoch / 60:>8.1f}m  "
            f"{case.config}",
            flush=True,
        )


if __name__ == "__main__":
    main()
