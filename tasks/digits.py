"""Offline default task: a Cifar10CNN-shaped network on scikit-learn's handwritten digits.

The 1,797 8x8 images ship inside scikit-learn, so this task runs anywhere without a network.
The search space has the shape of the paper's Cifar10CNN (3 continuous, 5 discrete,
5 categorical hyperparameters) with widths scaled down to 8x8 inputs, so that bad trials
(sigmoid + SGD + a tiny learning rate barely learns; Adam at lr 0.4 diverges) really occur
and a median trial takes a few seconds on one CPU thread.

Task options: ``epochs`` (cap, default 20).
"""

from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bttackler.tasks._image_tasks import build_convnet
from bttackler.tasks._settings import COMMON_OPTIONS, check_options, epochs_function
from bttackler.tasks._splits import Split
from bttackler.tasks._training import run_small_net
from bttackler.tasks.models import ConvNet

from bttackler.trialside.protocol import Trial

OBJECTIVE = "val_acc"
MODE = "max"
MAX_EPOCHS = 20
CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over the 10 classes
DEFAULT_SPACE = "search_spaces/digits.yaml"
DESCRIPTION = "CNN (4 conv + 3 fc) on 8x8 handwritten digits; 13 hyperparameters, offline"
DATA_SOURCE = "scikit-learn's bundled UCI handwritten digits (sklearn.datasets.load_digits)"
OPTIONS: dict[str, str] = dict(COMMON_OPTIONS)
epochs = epochs_function(MAX_EPOCHS)  # what --task-opt epochs=N makes a trial train

VAL_FRACTION = 0.2
SPLIT_SEED = 0  # fixed: every trial is judged on the same validation images


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Images (1797, 8, 8) with values 0..16 and labels, as scikit-learn ships them.

    Reads scikit-learn's ``digits.csv.gz`` directly when it is where scikit-learn keeps it
    (importing ``sklearn.datasets`` costs about 1.5 s per trial process); otherwise asks
    :func:`sklearn.datasets.load_digits`.
    """
    spec = importlib.util.find_spec("sklearn")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            raw = np.loadtxt(path, delimiter=",", dtype=np.float32)
            return raw[:, :-1].reshape(-1, 8, 8), raw[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images.astype(np.float32), digits.target.astype(np.int64)


def stratified_split(
    y: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices holding ``val_fraction`` of every class (rounded)."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_val = int(round(len(idx) * val_fraction))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


@functools.lru_cache(maxsize=2)
def load_split(val_fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED) -> tuple[Split, Split]:
    """Fixed stratified train/validation split, pixels scaled to [0, 1] then standardised.

    Mean and standard deviation come from the training images only (one scalar each).
    Cached per process: a worker that runs many trials reads the file once.
    """
    images, labels = _digits_arrays()
    x = images / 16.0  # pixel values are 0..16
    tr, va = stratified_split(labels, val_fraction, seed)
    mean, std = float(x[tr].mean()), float(x[tr].std())
    scaled = ((x - mean) / std).astype(np.float32)[:, None]
    return (
        Split(torch.from_numpy(scaled[tr]), torch.from_numpy(labels[tr])),
        Split(torch.from_numpy(scaled[va]), torch.from_numpy(labels[va])),
    )


def build_model(params: Mapping[str, Any]) -> ConvNet:
    # padded: keeps 8x8 inputs large enough for four convolutions and two poolings
    return build_convnet(params, (1, 8, 8), num_classes=10, padding=1)


def run(params: dict[str, Any], trial: Trial) -> None:
    """Train one configuration, reporting train/val loss and accuracy every epoch."""
    run_small_net(params, trial, task="digits", options_spec=OPTIONS, max_epochs=MAX_EPOCHS,
                  build_model=build_model, load=lambda options: load_split())  # fmt: skip


def prepare(options: dict[str, str], data_dir: Any) -> None:
    """Called once by the runner before the search: checks the task options."""
    check_options(options, OPTIONS, "digits")
