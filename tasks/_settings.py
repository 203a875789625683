"""What a task is told besides its hyperparameters: the ``--task-opt`` knobs (checked, so a typo
is an error, and read with bounds) and the trial's seed, device and data folder.

The trial readers give a stand-in trial that lacks an attribute (a test's fake, a benchmark's
clock) the runner's neutral value, so the same task code runs under both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from bttackler.core.errors import BttacklerError
from bttackler.trialside.protocol import Trial

# Options every task understands, name -> one-line help; tasks add their own.
COMMON_OPTIONS: dict[str, str] = {
    "epochs": "train at most this many epochs (1..MAX_EPOCHS; default MAX_EPOCHS)",
}


# --------------------------------------------------------------------------- options


def check_options(options: Mapping[str, str] | None, known: Mapping[str, str], task: str) -> dict:
    """Return ``options`` as a dict, raising :class:`BttacklerError` on an unknown key.

    A typo such as ``--task-opt epoch=2`` must not be silently ignored.
    """
    opts = dict(options or {})
    unknown = sorted(set(opts) - set(known))
    if unknown:
        raise BttacklerError(
            f"task {task}: unknown --task-opt {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    return opts


def int_option(
    options: Mapping[str, str], key: str, default: int, *, low: int = 1, high: int | None = None
) -> int:
    """An integer task option in ``[low, high]``, or ``default`` when absent."""
    raw = options.get(key)
    if raw is None:
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise BttacklerError(f"--task-opt {key}={raw}: expected an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise BttacklerError(f"--task-opt {key}={raw}: expected an integer in {bound}")
    return value


def epochs_option(options: Mapping[str, str], max_epochs: int) -> int:
    """The ``epochs`` knob: cap the number of epochs (never above the task's MAX_EPOCHS)."""
    return int_option(options, "epochs", max_epochs, low=1, high=max_epochs)


def epochs_function(max_epochs: int) -> Callable[[Mapping[str, str]], int]:
    """A task's ``epochs(options)``: the epochs its trials train under the ``epochs`` knob, so
    the runner stages the indicators on that count (``epochs = epochs_function(MAX_EPOCHS)``)."""

    def epochs(options: Mapping[str, str]) -> int:
        return epochs_option(options, max_epochs)

    return epochs


# --------------------------------------------------------------------------- the trial


def trial_options(trial: Trial) -> dict[str, str]:
    """``trial.options`` or an empty dict for trial objects that have none."""
    return dict(getattr(trial, "options", None) or {})


def trial_seed(trial: Trial) -> int:
    """The trial's seed (independent of its parameters), 0 when the trial has none."""
    return int(getattr(trial, "seed", 0) or 0)


def trial_device(trial: Trial) -> torch.device:
    """The trial's device, the CPU when the trial names none."""
    return torch.device(getattr(trial, "device", None) or "cpu")


def trial_data_dir(trial: Trial) -> Path | str | None:
    """Where the trial looks for datasets, None (the loaders' defaults) when it says nothing."""
    return getattr(trial, "data_dir", None)
