"""What a task's ``run(params, trial)`` may rely on, as types: annotate a task with
:class:`Trial` and mypy checks its calls, whatever object drives it.

In a run the object is :class:`bttackler.trialside.trial.Trial`, which has everything here.
Tests, benchmarks and notebooks pass stand-ins that often have less, so the pieces a caller may
do without are protocols of their own: :class:`Reporter` (all a training loop needs) and
:class:`BatchLossReporter` (optional, checked with ``isinstance`` before use).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bttackler.trialside import trial as runner


@runtime_checkable
class Reporter(Protocol):
    """The one call every trial-like object has: a training loop needs no more, so a stand-in
    that only reports (a benchmark forwarding to Optuna) can drive one."""

    def report(self, epoch: int, **metrics: float) -> None:
        """Report one finished epoch: ``trial.report(epoch, train_loss=..., val_acc=...)``."""
        ...


@runtime_checkable
class BatchLossReporter(Protocol):
    """Takes each training batch's mean loss, for the record PLC1 reads inside epoch 1.

    Optional on a stand-in: test ``isinstance(trial, BatchLossReporter)`` before calling it
    (the runner's trial always has it)."""

    def batch_loss(self, loss: float) -> None: ...


@runtime_checkable
class Trial(Reporter, BatchLossReporter, Protocol):
    """What ``run(params, trial)`` receives.

    The attributes are read-only for a task. A stand-in may leave out what its task never
    reads; the built-in tasks read them with defaults (no options, seed 0, the CPU, no data
    folder) and call ``batch_loss`` only when it is there.

    Attributes:
        params: the hyperparameter configuration (the runner notes which ones the task read).
        device: the torch device of the trial's slot (``cpu`` or ``cuda:0``).
        options: task knobs given with ``--task-opt key=value`` (strings).
        data_dir: where datasets are looked for (``--data-dir`` / ``BTTACKLER_DATA``), or None.
        seed: a per-trial seed derived from the run's seed.
    """

    @property
    def params(self) -> Mapping[str, Any]: ...

    @property
    def device(self) -> Any: ...

    @property
    def options(self) -> Mapping[str, str]: ...

    @property
    def data_dir(self) -> Path | str | None: ...

    @property
    def seed(self) -> int: ...

    def watch(self, model: Any) -> None:
        """Install the per-layer probes on ``model`` (once, before training): without them
        the diagnosis is blind."""
        ...


if TYPE_CHECKING:

    def _runner_trial_keeps_the_promises(trial: runner.Trial) -> Trial:
        """Checked by mypy, never run: the runner's trial must stay a :class:`Trial`."""
        return trial
