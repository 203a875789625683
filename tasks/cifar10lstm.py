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
from typing import Any

from bttackler.tasks._image_tasks import CIFAR10, ROW_LSTM, ImageTask
from bttackler.tasks._settings import epochs_function

from bttackler.trialside.protocol import Trial

OBJECTIVE = "val_acc"
MODE = "max"
MAX_EPOCHS = 20
CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over the 10 classes
DEFAULT_SPACE = "search_spaces/cifar10lstm.yaml"
DESCRIPTION = "Cifar10LSTM (paper): LSTM over the 32 rows of CIFAR-10 images; 8 hyperparameters"
DATA_SOURCE = "CIFAR-10 python archive (cs.toronto.edu, md5-checked) in --data-dir or cache"
epochs = epochs_function(MAX_EPOCHS)  # what --task-opt epochs=N makes a trial train
TASK = ImageTask("cifar10lstm", CIFAR10, ROW_LSTM, max_epochs=MAX_EPOCHS)
OPTIONS: dict[str, str] = TASK.options  # the four image tasks' knobs, this pair's defaults


def run(params: dict[str, Any], trial: Trial) -> None:
    """Train one configuration on CIFAR-10, reporting loss and accuracy every epoch."""
    TASK.run(params, trial)


def prepare(options: dict[str, str], data_dir: Any) -> None:
    """Called once by the runner before the search: checks the options and makes sure the data
    is there (downloading it when possible), so a missing file is one clear error up front."""
    TASK.prepare(options, data_dir)
