"""The four image tasks written once: a dataset (CIFAR-10, Fashion-MNIST) and a network
(Cifar10CNN's ConvNet, Cifar10LSTM's row-reading LSTM) make a task, and cifar10cnn.py,
cifar10lstm.py, fashioncnn.py and fashionlstm.py each name their pair.

All four follow the authors' code for the paper's Cifar10CNN and Cifar10LSTM: a fixed 80/20
train/validation split of the training images, per-channel normalisation with the training
split's statistics, the learning rate multiplied by 0.7 after every epoch, and the same task
options.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bttackler.tasks._images import channel_stats, image_prepare
from bttackler.tasks._optimizers import make_optimizer
from bttackler.tasks._params import as_bool, as_int
from bttackler.tasks._settings import (
    COMMON_OPTIONS,
    check_options,
    epochs_option,
    int_option,
    trial_data_dir,
    trial_device,
    trial_options,
    trial_seed,
)
from bttackler.tasks._splits import image_splits
from bttackler.tasks._training import fit_classifier
from bttackler.tasks.models import ConvNet, RowLSTM
from torch import nn

from bttackler.trialside.protocol import Trial

VAL_FRACTION = 0.2  # 10k of CIFAR-10's 50k training images, 12k of Fashion-MNIST's 60k
LR_DECAY = 0.7  # per epoch, as in the authors' code

Shape = tuple[int, int, int]  # one image: (channels, height, width)


# --------------------------------------------------------------------------- networks


def build_convnet(
    params: Mapping[str, Any], shape: Shape, num_classes: int = 10, padding: int = 0
) -> ConvNet:
    """Cifar10CNN's network for images of ``shape``: 4 convolutions (unpadded by default) +
    3 fc layers, from the search space's conv1-4, kernel_size, hidden, activation, batch_norm
    and dropout."""
    channels, size, _ = shape
    return ConvNet(
        in_channels=channels,
        image_size=size,
        widths=(
            as_int(params["conv1"]),
            as_int(params["conv2"]),
            as_int(params["conv3"]),
            as_int(params["conv4"]),
        ),
        kernel_size=as_int(params["kernel_size"]),
        hidden=as_int(params["hidden"]),
        num_classes=num_classes,
        activation=str(params["activation"]),
        batch_norm=as_bool(params["batch_norm"]),
        dropout=float(params["dropout"]),
        padding=padding,
    )


def build_row_lstm(params: Mapping[str, Any], shape: Shape, num_classes: int = 10) -> RowLSTM:
    """Cifar10LSTM's network for images of ``shape``: an LSTM over rows of C x W features."""
    channels, _, width = shape
    return RowLSTM(
        input_size=channels * width,
        hidden=as_int(params["hidden_size"]),
        num_layers=as_int(params["num_layers"]),
        bidirectional=as_bool(params["bidirectional"]),
        dropout=float(params["dropout"]),
        num_classes=num_classes,
    )


@dataclass(frozen=True)
class Network:
    """A network family: built from the parameters and the image shape, and fed either
    images (N, C, H, W) or, ``as_rows``, sequences of rows (N, H, C*W)."""

    build: Callable[[Mapping[str, Any], Shape], nn.Module]
    as_rows: bool = False


CONVNET = Network(build_convnet)
ROW_LSTM = Network(build_row_lstm, as_rows=True)


# --------------------------------------------------------------------------- datasets


def _cifar10(data_dir: Path | str | None) -> tuple[np.ndarray, np.ndarray]:
    from bttackler.tasks.data import cifar10

    data = cifar10.load(data_dir)
    return data.train_x, data.train_y


def _fashion_mnist(data_dir: Path | str | None) -> tuple[np.ndarray, np.ndarray]:
    from bttackler.tasks.data import fashion_mnist

    data = fashion_mnist.load(data_dir)
    return data.train_x[:, None], data.train_y  # grayscale: one channel


@dataclass(frozen=True)
class ImageDataset:
    """A labelled image set and how much of it a trial uses unless told otherwise.

    ``load(data_dir)`` returns the training images, uint8 (N, C, H, W), and their labels,
    downloading them when they are nowhere on this machine.
    """

    load: Callable[[Path | str | None], tuple[np.ndarray, np.ndarray]]
    train_size: int
    val_size: int


CIFAR10 = ImageDataset(_cifar10, train_size=40000, val_size=10000)  # the paper's split
# of its 48k/12k split: small, so that a 2-core machine searches in reasonable time
FASHION_MNIST = ImageDataset(_fashion_mnist, train_size=10000, val_size=2000)


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class ImageTask:
    """One dataset x network pair: what its task module's ``run`` and ``prepare`` do.

    ``augment`` is the default of the ``augment`` option.
    """

    name: str
    dataset: ImageDataset
    network: Network
    max_epochs: int
    augment: bool = False

    @property
    def options(self) -> dict[str, str]:
        """The task's ``--task-opt`` knobs with this dataset's and task's defaults."""
        return {
            **COMMON_OPTIONS,
            "train_size": f"training images per epoch (default {self.dataset.train_size})",
            "val_size": f"validation images (default {self.dataset.val_size})",
            "augment": "1 = random crop (pad 4) + horizontal flip on training batches, "
            f"0 = none (default {int(self.augment)})",
        }

    def run(self, params: Mapping[str, Any], trial: Trial) -> None:
        """Train one configuration, reporting loss and accuracy every epoch."""
        options = check_options(trial_options(trial), self.options, self.name)
        images, labels = self.dataset.load(trial_data_dir(trial))
        self.train(params, trial, images=images, labels=labels, options=options)

    def prepare(self, options: Mapping[str, str], data_dir: Path | str | None) -> None:
        """Check the options and make sure the data is there (downloading it when possible),
        so a missing file is one clear error before the search."""
        check_options(options, self.options, self.name)
        self.dataset.load(data_dir)

    def train(
        self,
        params: Mapping[str, Any],
        trial: Trial,
        *,
        images: np.ndarray,
        labels: np.ndarray,
        options: Mapping[str, str],
    ) -> None:
        """Train the network on uint8 images (N, C, H, W) under the checked ``options``."""
        epochs = epochs_option(options, self.max_epochs)
        train_size = int_option(options, "train_size", self.dataset.train_size)
        val_size = int_option(options, "val_size", self.dataset.val_size)
        augment = bool(int_option(options, "augment", int(self.augment), low=0, high=1))
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
        prepare = image_prepare(
            mean, std, augment=augment, generator=generator, as_rows=self.network.as_rows
        )

        shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
        model = self.network.build(params, shape).to(device)
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
