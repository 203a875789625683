"""The object a task's ``run(params, trial)`` receives: its whole view of the runner.

Everything it reports goes through the slot's shared-memory ring to the monitor; nothing
here blocks on the main process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bttackler.core.history import metric_values
from bttackler.core.ring import Kind, RingWriter

_KIND_BY_PROBE = {
    "weight": Kind.WEIGHT,
    "grad": Kind.GRAD,
    "activation": Kind.ACTIVATION,
    "nonfinite": Kind.NONFINITE,
    "early": Kind.EARLY,
}


class ReadTrackingParams(dict):  # type: ignore[type-arg]
    """The trial's parameters, remembering which ones the task read: a search-space
    parameter the task never reads is a typo the user wants to hear about. Iterating, copying
    or unpacking (``**params``) counts as reading them all."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return super().__contains__(key)

    def _all(self) -> None:
        self.read.update(super().keys())

    def __iter__(self) -> Any:
        self._all()
        return super().__iter__()

    def keys(self) -> Any:
        self._all()
        return super().keys()

    def items(self) -> Any:
        self._all()
        return super().items()

    def values(self) -> Any:
        self._all()
        return super().values()

    def copy(self) -> dict[str, Any]:
        self._all()
        return dict(super().items())

    def unread(self) -> list[str]:
        return sorted(set(super().keys()) - self.read)


class Trial:
    """A running trial, as seen from the training code.

    Attributes:
        trial_id: the run-wide trial number.
        params: the hyperparameter configuration to train with.
        device: the torch device of this trial's slot (``cpu`` or ``cuda:0``).
        options: task knobs given with ``--task-opt key=value`` (strings).
        data_dir: where datasets are looked for (``--data-dir`` / ``BTTACKLER_DATA``), or None.
        seed: a per-trial seed derived from the run's seed.
    """

    def __init__(
        self,
        trial_id: int,
        params: Mapping[str, Any],
        *,
        writer: RingWriter,
        device: Any = "cpu",
        options: Mapping[str, str] | None = None,
        data_dir: Path | None = None,
        seed: int = 0,
        trace: bool = True,
    ) -> None:
        self.trial_id = trial_id
        self.params = ReadTrackingParams(params)
        self.device = device
        self.options = dict(options or {})
        self.data_dir = data_dir
        self.seed = seed
        self._writer = writer
        self._trace = trace
        self._probe: Any = None

    def note_unread_params(self) -> None:
        """At the end of a trial that ran to completion: tell the runner which parameters
        of the search space the task never read."""
        unread = self.params.unread()
        if unread:
            self._writer.write_text(Kind.NOTE, self.trial_id, "unread:" + ",".join(unread))

    def watch(self, model: Any) -> None:
        """Install the probes that trace per-layer statistics of ``model`` (call once)."""
        if self._probe is not None:
            self._probe.close()
        if not self._trace:
            return
        from bttackler.trialside.probe import Probe  # imports torch; trials have it preloaded

        self._probe = Probe(model, self._emit_probe, seed=self.seed)

    def report(self, epoch: int, **metrics: float) -> None:
        """Report one finished epoch: ``trial.report(epoch, train_loss=..., val_acc=...)``.

        Values must be numbers (NaN and inf are recorded as they are).
        """
        if self._probe is not None:
            self._probe.flush(epoch)
        clean = metric_values(metrics, caller="trial.report")
        for name, value in clean.items():
            self._writer.write(Kind.METRIC, self.trial_id, epoch=epoch, name=name, values=[value])
        self._writer.write(Kind.EPOCH, self.trial_id, epoch=epoch, values=[len(clean)])

    def batch_loss(self, loss: float) -> None:
        """Report one training batch's loss (the mean over its samples), after its step.

        Optional: only the first batches of epoch 1 are kept, for the provisional record that
        lets a loss flat at the chance level stop the trial inside epoch 1 (PLC1). Costs one
        float append; nothing once that record is written."""
        if self._probe is not None:
            self._probe.batch_loss(loss)

    def _emit_probe(self, kind: str, index: int, name: str, values: Sequence[float]) -> None:
        self._writer.write(
            _KIND_BY_PROBE[kind],
            self.trial_id,
            epoch=-1,
            index=index,
            name=name[-32:],
            values=[v if isinstance(v, float) else float(v) for v in values],
        )

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None
