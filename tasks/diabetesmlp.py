"""A wide-space MLP regressing scikit-learn's bundled diabetes progression; minimises val_mse.

442 patients, 10 standardised features, the target (disease progression a year later)
standardised with the training rows' mean and std, so predicting the mean scores about 1.0
and a good model about 0.5. A fixed 80/20 split. The objective is *minimised*, which
exercises MSR and LCE for ``mode = "min"``. The space is as wide as the paper's Table 1
spaces (five optimizers and activations, lr over five decades, initialisation scales over
two, 1-5 hidden layers); about 40% of its random trials are bad (stay at the mean's 1.0,
learn far too slowly, or diverge). Offline; a trial takes about a second (40 short epochs).

Task options: ``epochs`` (cap, default 40).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bttackler.tasks._params import as_bool, as_int
from bttackler.tasks._settings import COMMON_OPTIONS, check_options, epochs_function
from bttackler.tasks._splits import Split, split_indices
from bttackler.tasks._training import run_small_net
from bttackler.tasks.models import MLP

from bttackler.trialside.protocol import Trial

OBJECTIVE = "val_mse"
MODE = "min"
MAX_EPOCHS = 40
DEFAULT_SPACE = "search_spaces/diabetesmlp.yaml"
DESCRIPTION = "MLP regressing diabetes progression (442 patients); minimises val_mse, offline"
DATA_SOURCE = "scikit-learn's bundled diabetes data (sklearn.datasets.load_diabetes)"
OPTIONS: dict[str, str] = dict(COMMON_OPTIONS)
epochs = epochs_function(MAX_EPOCHS)  # what --task-opt epochs=N makes a trial train

VAL_FRACTION = 0.2
SPLIT_SEED = 0  # fixed: every trial is judged on the same patients


def _diabetes_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Raw features (442, 10) and targets, read from scikit-learn's files directly when they
    are where scikit-learn keeps them (importing ``sklearn.datasets`` costs about 1.5 s)."""
    spec = importlib.util.find_spec("sklearn")
    for root in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(root) / "datasets" / "data"
        x_path, y_path = folder / "diabetes_data_raw.csv.gz", folder / "diabetes_target.csv.gz"
        if x_path.is_file() and y_path.is_file():
            return np.loadtxt(x_path), np.loadtxt(y_path)
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True, scaled=False)
    return np.asarray(x), np.asarray(y)


@functools.lru_cache(maxsize=1)
def load_split() -> tuple[Split, Split]:
    """The fixed split, features and target standardised with the training rows' statistics.
    ``Split.y`` holds float targets here. Cached per worker process."""
    x, y = _diabetes_arrays()
    tr, va = (i.numpy() for i in split_indices(len(y), val_fraction=VAL_FRACTION, seed=SPLIT_SEED))
    x_mean, x_std = x[tr].mean(axis=0), x[tr].std(axis=0)
    y_mean, y_std = y[tr].mean(), y[tr].std()
    xs = ((x - x_mean) / x_std).astype(np.float32)
    ys = ((y - y_mean) / y_std).astype(np.float32)
    return (
        Split(torch.from_numpy(xs[tr]), torch.from_numpy(ys[tr])),
        Split(torch.from_numpy(xs[va]), torch.from_numpy(ys[va])),
    )


def build_model(params: Mapping[str, Any]) -> MLP:
    return MLP(
        in_features=10,
        hidden=as_int(params["hidden"]),
        depth=as_int(params["depth"]),
        outputs=1,
        activation=str(params["activation"]),
        batch_norm=as_bool(params["batch_norm"]),
        dropout=float(params["dropout"]),
        init_scale=float(params["init_scale"]),
    )


def run(params: dict[str, Any], trial: Trial) -> None:
    """Train one configuration, reporting train_loss and val_mse every epoch."""
    run_small_net(params, trial, task="diabetesmlp", options_spec=OPTIONS,
                  max_epochs=MAX_EPOCHS, build_model=build_model,
                  load=lambda options: load_split(), regression=True)  # fmt: skip


def prepare(options: dict[str, str], data_dir: Any) -> None:
    """Called once by the runner before the search: checks the task options."""
    check_options(options, OPTIONS, "diabetesmlp")
