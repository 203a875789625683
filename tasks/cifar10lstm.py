"""Cifar10LSTM, the paper's second task: an LSTM reading each CIFAR-10 image row by row.

Each image is a sequence of 32 rows of 96 features (32 pixels x 3 channels, per-channel
normalised); the last step's output (both directions' when bidirectional) feeds a linear
classifier. Table 1: 3 continuous (learning rate, weight decay, dropout), 1 discrete (hidden
size), 4 categorical (layers, bidirectional, optimizer, batch size) hyperparameters. Same
40k/10k split, 20 epochs and per-epoch learning-rate decay (x0.7) as Cifar10CNN; no
augmentation by default.

Task options: ``epochs`` (cap, default 20), ``train_size`` (default 40000), ``val_size``
(default 10000), ``augment`` (1/0, default 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from bttackler.tasks.common import (
    COMMON_OPTIONS,
    as_bool,
    as_int,
    channel_stats,
    check_options,
    epochs_function,
    epochs_option,
    fit_classifier,
    image_prepare,
    image_splits,
    int_option,
    make_optimizer,
    trial_device,
    trial_options,
    trial_seed,
)
from bttackler.tasks.models import RowLSTM

OBJECTIVE = "val_acc"
MODE = "max"
MAX_EPOCHS = 20
CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over the 10 classes
DEFAULT_SPACE = "search_spaces/cifar10lstm.yaml"
DESCRIPTION = "Cifar10LSTM (paper): LSTM over the 32 rows of CIFAR-10 images; 8 hyperparameters"
DATA_SOURCE = "CIFAR-10 python archive (cs.toronto.edu, md5-checked) in --data-dir or cache"
OPTIONS: dict[str, str] = {
    **COMMON_OPTIONS,
    "train_size": "training images per epoch (default 40000, the paper's split)",
    "val_size": "validation images (default 10000)",
    "augment": "1 = random crop (pad 4) + horizontal flip on training batches, 0 = none",
}
epochs = epochs_function(MAX_EPOCHS)  # what --task-opt epochs=N makes a trial train

VAL_FRACTION = 0.2
LR_DECAY = 0.7


def build_model(params: Mapping[str, Any], *, input_size: int, num_classes: int = 10) -> RowLSTM:
    return RowLSTM(
        input_size=input_size,
        hidden=as_int(params["hidden_size"]),
        num_layers=as_int(params["num_layers"]),
        bidirectional=as_bool(params["bidirectional"]),
        dropout=float(params["dropout"]),
        num_classes=num_classes,
    )


def train_lstm(
    params: Mapping[str, Any],
    trial: Any,
    *,
    images: np.ndarray,
    labels: np.ndarray,
    options: Mapping[str, str],
    max_epochs: int,
    default_train: int,
    default_val: int,
) -> None:
    """Train :class:`RowLSTM` on uint8 images (N, C, H, W); shared with the Fashion stand-in."""
    epochs = epochs_option(options, max_epochs)
    train_size = int_option(options, "train_size", default_train)
    val_size = int_option(options, "val_size", default_val)
    augment = bool(int_option(options, "augment", 0, low=0, high=1))
    seed = trial_seed(trial)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    device = trial_device(trial)

    x = torch.from_numpy(np.ascontiguousarray(images))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    train, val = image_splits(
        x, y, val_fraction=VAL_FRACTION, train_size=train_size, val_size=val_size
    )
    mean, std = channel_stats(train.x)
    prepare = image_prepare(mean, std, augment=augment, generator=generator, as_rows=True)

    model = build_model(params, input_size=x.shape[1] * x.shape[3]).to(device)
    optimizer = make_optimizer(
        str(params["optimizer"]),
        model.parameters(),
        lr=float(params["lr"]),
        weight_decay=float(params["weight_decay"]),
    )
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=LR_DECAY)
    trial.watch(model)
    fit_classifier(
        model,
        optimizer,
        train,
        val,
        trial,
        batch_size=as_int(params["batch_size"]),
        epochs=epochs,
        prepare=prepare,
        generator=generator,
        scheduler=scheduler,
    )


def run(params: dict[str, Any], trial: Any) -> None:
    """Train one configuration on CIFAR-10, reporting loss and accuracy every epoch."""
    from bttackler.tasks.data import cifar10

    options = check_options(trial_options(trial), OPTIONS, "cifar10lstm")
    data = cifar10.load(getattr(trial, "data_dir", None))
    train_lstm(
        params,
        trial,
        images=data.train_x,
        labels=data.train_y,
        options=options,
        max_epochs=MAX_EPOCHS,
        default_train=40000,
        default_val=10000,
    )


def prepare(options: dict[str, str], data_dir: Any) -> None:
    """Called once by the runner before the search: checks the options and makes sure the data
    is there (downloading it when possible), so a missing file is one clear error up front."""
    from bttackler.tasks.data import cifar10

    check_options(options, OPTIONS, "cifar10lstm")
    cifar10.load(data_dir)
