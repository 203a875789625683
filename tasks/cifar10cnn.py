"""Cifar10CNN, the paper's first task: 4 conv + 3 fully connected layers on CIFAR-10.

Section 4.1 and Table 1 of the paper: 13 hyperparameters (3 continuous, 5 discrete,
5 categorical). As in the authors' code: convolutions without padding, max pooling after the
second and fourth, optional batch norm after each convolution block, dropout before the last
layer, the learning rate multiplied by 0.7 after every epoch, 20 epochs, a fixed 40k/10k
train/validation split of the 50k training images, random crop (pad 4) + horizontal flip,
per-channel normalisation (training-split statistics).

Task options: ``epochs`` (cap, default 20), ``train_size`` (default 40000), ``val_size``
(default 10000), ``augment`` (1/0, default 1).
"""

from __future__ import annotations

import math
from typing import Any

from bttackler.tasks._image_tasks import CIFAR10, CONVNET, ImageTask
from bttackler.tasks._settings import epochs_function

from bttackler.trialside.protocol import Trial

OBJECTIVE = "val_acc"
MODE = "max"
MAX_EPOCHS = 20
CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over the 10 classes
DEFAULT_SPACE = "search_spaces/cifar10cnn.yaml"
DESCRIPTION = "Cifar10CNN (paper): 4 conv + 3 fc layers on CIFAR-10; 13 hyperparameters"
DATA_SOURCE = "CIFAR-10 python archive (cs.toronto.edu, md5-checked) in --data-dir or cache"
epochs = epochs_function(MAX_EPOCHS)  # what --task-opt epochs=N makes a trial train
TASK = ImageTask("cifar10cnn", CIFAR10, CONVNET, max_epochs=MAX_EPOCHS, augment=True)
OPTIONS: dict[str, str] = TASK.options  # the four image tasks' knobs, this pair's defaults


def run(params: dict[str, Any], trial: Trial) -> None:
    """Train one configuration on CIFAR-10, reporting loss and accuracy every epoch."""
    TASK.run(params, trial)


def prepare(options: dict[str, str], data_dir: Any) -> None:
    """Called once by the runner before the search: checks the options and makes sure the data
    is there (downloading it when possible), so a missing file is one clear error up front."""
    TASK.prepare(options, data_dir)
