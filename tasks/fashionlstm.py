"""Offline stand-in for Cifar10LSTM: the same row-reading LSTM and space on Fashion-MNIST.

Each 28x28 grayscale image is a sequence of 28 rows of 28 features. A fixed 48k/12k
train/validation split of the 60k training images; by default 10k training and 2k
validation images per trial (``--task-opt train_size=48000 --task-opt val_size=12000`` for
all of it).

Task options: ``epochs`` (cap, default 20), ``train_size`` (default 10000), ``val_size``
(default 2000), ``augment`` (1/0, default 0).
"""

from __future__ import annotations

import math
from typing import Any

from bttackler.tasks._image_tasks import FASHION_MNIST, ROW_LSTM, ImageTask
from bttackler.tasks._settings import epochs_function

from bttackler.trialside.protocol import Trial

OBJECTIVE = "val_acc"
MODE = "max"
MAX_EPOCHS = 20
CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over the 10 classes
DEFAULT_SPACE = "search_spaces/cifar10lstm.yaml"
DESCRIPTION = "Cifar10LSTM's model and space on Fashion-MNIST rows (offline stand-in)"
DATA_SOURCE = (
    "Fashion-MNIST IDX files: /usr/share/datasets/fashion-mnist (Debian dataset-fashion-mnist)"
    " or --data-dir/fashion-mnist, else download"
)
epochs = epochs_function(MAX_EPOCHS)  # what --task-opt epochs=N makes a trial train
TASK = ImageTask("fashionlstm", FASHION_MNIST, ROW_LSTM, max_epochs=MAX_EPOCHS)
OPTIONS: dict[str, str] = TASK.options  # the four image tasks' knobs, this pair's defaults


def run(params: dict[str, Any], trial: Trial) -> None:
    """Train one configuration on Fashion-MNIST, reporting loss and accuracy every epoch."""
    TASK.run(params, trial)


def prepare(options: dict[str, str], data_dir: Any) -> None:
    """Called once by the runner before the search: checks the options and makes sure the data
    is there (downloading it when possible), so a missing file is one clear error up front."""
    TASK.prepare(options, data_dir)
