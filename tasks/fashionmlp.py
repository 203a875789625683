"""A wide-space MLP on a fixed 6,000 / 2,000 subset of Fashion-MNIST, offline.

28x28 grayscale clothing images from Debian's ``dataset-fashion-mnist`` (or ``--data-dir``),
flattened to 784 standardised pixels. Never downloads: a benchmark must not depend on the
network, so missing data is one error line saying how to install it. The space is as wide as
the paper's Table 1 spaces: five optimizers, five activations, learning rates over five
decades, initialisation scales over three, 1-5 hidden layers, batch sizes 16-512; about
40% of its random trials are bad (stuck near chance, far too slow, or diverged), and a trial
takes a few seconds on one CPU thread.

Task options: ``epochs`` (cap, default 10), ``train_size`` (default 6000), ``val_size``
(default 2000).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import torch
from bttackler.tasks._params import as_bool, as_int
from bttackler.tasks._settings import (
    COMMON_OPTIONS,
    check_options,
    epochs_function,
    int_option,
    trial_data_dir,
)
from bttackler.tasks._splits import Split, split_indices
from bttackler.tasks._training import run_small_net
from bttackler.tasks.models import MLP

from bttackler.trialside.protocol import Trial

OBJECTIVE = "val_acc"
MODE = "max"
MAX_EPOCHS = 10
CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over the 10 classes
DEFAULT_SPACE = "search_spaces/fashionmlp.yaml"
DESCRIPTION = "MLP on 6k/2k Fashion-MNIST images; wide space (5 optimizers, lr 1e-5..1), offline"
DATA_SOURCE = (
    "Fashion-MNIST IDX files: /usr/share/datasets/fashion-mnist (Debian dataset-fashion-mnist,"
    " `make data`) or --data-dir/fashion-mnist; never downloaded"
)
OPTIONS: dict[str, str] = {
    **COMMON_OPTIONS,
    "train_size": "training images, a fixed subset of the 60k (default 6000)",
    "val_size": "validation images, disjoint from the training ones (default 2000)",
}
SPLIT_SEED = 0  # fixed: every trial trains and is judged on the same images
VAL_POOL = 2000  # validation images come from these, the training ones from the other 58,000
epochs = epochs_function(MAX_EPOCHS)  # what --task-opt epochs=N makes a trial train


@functools.lru_cache(maxsize=2)
def load_split(data_dir: str | None, train_size: int, val_size: int) -> tuple[Split, Split]:
    """Fixed disjoint subsets of the official training set, flattened and standardised with
    the training subset's pixel mean and std. Cached per worker process."""
    from bttackler.tasks.data import fashion_mnist

    data = fashion_mnist.load(data_dir, download=False)
    n = len(data.train_y)
    pool = min(VAL_POOL, n // 4)  # n // 4 only for the tiny test files
    tr, va = split_indices(n, val_fraction=pool / n, seed=SPLIT_SEED)
    tr, va = tr[:train_size], va[:val_size]
    x = torch.from_numpy(data.train_x).reshape(len(data.train_x), -1)
    y = torch.from_numpy(data.train_y)
    train_x = x[tr].float() / 255.0
    mean, std = float(train_x.mean()), float(train_x.std())
    val_x = (x[va].float() / 255.0 - mean) / std
    return Split((train_x - mean) / std, y[tr]), Split(val_x, y[va])


def build_model(params: Mapping[str, Any]) -> MLP:
    return MLP(
        in_features=28 * 28,
        hidden=as_int(params["hidden"]),
        depth=as_int(params["depth"]),
        outputs=10,
        activation=str(params["activation"]),
        batch_norm=as_bool(params["batch_norm"]),
        dropout=float(params["dropout"]),
        init_scale=float(params["init_scale"]),
    )


def _sizes(options: Mapping[str, str]) -> tuple[int, int]:
    return (
        int_option(options, "train_size", 6000, high=60000 - VAL_POOL),
        int_option(options, "val_size", VAL_POOL, high=VAL_POOL),
    )


def run(params: dict[str, Any], trial: Trial) -> None:
    """Train one configuration, reporting train/val loss and accuracy every epoch."""
    data_dir = trial_data_dir(trial)

    def load(options: Mapping[str, str]) -> tuple[Split, Split]:
        return load_split(str(data_dir) if data_dir else None, *_sizes(options))

    run_small_net(params, trial, task="fashionmlp", options_spec=OPTIONS,
                  max_epochs=MAX_EPOCHS, build_model=build_model, load=load)  # fmt: skip


def prepare(options: dict[str, str], data_dir: Any) -> None:
    """Called once by the runner before the search: checks the options and that the data is
    on this machine (one error line naming the package to install when it is not)."""
    from bttackler.tasks.data import fashion_mnist

    _sizes(check_options(options, OPTIONS, "fashionmlp"))
    fashion_mnist.load(data_dir, download=False)
