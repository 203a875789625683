"""Read-only view of one trial's training history: what indicators and rules judge.

The monitor builds these from ring records (live), the replay command from the store
(offline) and the Python API from its probe, all with :class:`HistoryBuilder`, so the same
pure functions judge live and recorded trials.

Epoch numbers are whatever the task reported; stage logic uses the *count* of epochs
recorded so far (``len(history.epochs)``), which does not depend on 0- or 1-based numbering.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Statistics of a tensor (a layer's weights or its gradient), in record order (values[i]).
TENSOR_STAT_NAMES: tuple[str, ...] = (
    "mean",
    "var",
    "median",
    "min",
    "max",
    "q75",
    "q25",
    "skew",
    "kurt",
    "zero_ratio",
    "nan_count",
    "inf_count",
    "abs_mean",
    "abs_max",
)
# Statistics recorded per layer for weights and gradients, in record order (values[i]): the
# tensor's, then ``update_ratio``: ||W_after - W_before|| / ||W_before|| of one optimizer step
# (weights only; NaN for gradients, and where it could not be measured).
STAT_NAMES: tuple[str, ...] = (*TENSOR_STAT_NAMES, "update_ratio")


@dataclass(frozen=True)
class LayerStat:
    """Statistics of one layer in one epoch.

    ``index`` is the layer's position in the forward pass (0 = nearest the input).
    ``values`` maps names in :data:`STAT_NAMES` (weights, gradients) or
    ``"inactive_ratio"`` (activations) to floats; NaN means "could not be computed".
    """

    index: int
    name: str
    values: Mapping[str, float]

    @classmethod
    def from_row(cls, kind: str, index: int, name: str, values: Sequence[float]) -> LayerStat:
        """From a record's row of floats: the :data:`STAT_NAMES` for weights and gradients,
        the inactive ratio alone for activations (as the ring and the store keep them). A
        short row (a store written before a statistic was added) reads NaN for the rest."""
        if kind == "activation":
            return cls(index, name, {"inactive_ratio": float(values[0])})
        row = [float(v) for v in values[: len(STAT_NAMES)]]
        row += [math.nan] * (len(STAT_NAMES) - len(row))
        return cls(index, name, dict(zip(STAT_NAMES, row)))


def metric_values(metrics: Mapping[str, Any], *, caller: str) -> dict[str, float]:
    """Reported metrics as floats (NaN and inf kept as they are).

    Raises:
        TypeError: a value is not a number; the message starts with ``caller``.
    """
    clean: dict[str, float] = {}
    for name, value in metrics.items():
        try:
            clean[name] = float(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{caller}: metric {name!r} is not a number: {value!r}") from exc
    return clean


@dataclass(frozen=True)
class NonFiniteEvent:
    """A NaN/Inf gradient seen mid-epoch by the probe's every-batch check."""

    epoch: int
    batch: int
    layer: str
    nan_count: float
    inf_count: float


@dataclass(frozen=True)
class EarlyEvidence:
    """The probe's one provisional record from inside a trial's first epoch: what it had seen
    after ``batches`` training batches (or at the end of epoch 1, if that came first).

    ``dead_ratio`` is, over the activation layers, the largest of each layer's *smallest*
    inactive ratio over the ``sampled`` batches measured so far: above a threshold, that layer
    was dead on every sampled batch (NaN: no activation module measured). ``loss_first`` and
    ``loss_last`` are the means of the first and of the last ``window`` of the ``losses``
    per-batch training losses the task reported (``trial.batch_loss``; NaN: none reported).
    """

    epoch: int  # epoch records closed before it (0: inside epoch 1)
    batches: int
    sampled: int
    dead_ratio: float
    dead_layer: str
    dead_index: int
    losses: int
    loss_first: float
    loss_last: float
    window: int

    def to_values(self) -> list[float]:
        """The ring record's values (``Kind.EARLY``); layer index and name go in its header."""
        return [
            float(self.batches), float(self.sampled), self.dead_ratio, float(self.losses),
            self.loss_first, self.loss_last, float(self.window),
        ]  # fmt: skip

    @classmethod
    def from_values(
        cls, epoch: int, index: int, name: str, values: Sequence[float]
    ) -> EarlyEvidence:
        """Inverse of :meth:`to_values`."""
        v = [float(x) for x in values[:7]] + [math.nan] * max(0, 7 - len(values))
        return cls(
            epoch=epoch, batches=int(v[0]), sampled=int(v[1]), dead_ratio=v[2],
            dead_layer=name, dead_index=index, losses=int(v[3]), loss_first=v[4],
            loss_last=v[5], window=int(v[6]) if math.isfinite(v[6]) else 0,
        )  # fmt: skip


@dataclass(frozen=True)
class EpochRecord:
    """Everything recorded for one epoch: reported metrics and per-layer statistics."""

    epoch: int
    metrics: Mapping[str, float]
    weights: tuple[LayerStat, ...] = ()
    grads: tuple[LayerStat, ...] = ()
    activations: tuple[LayerStat, ...] = ()
    time: float = 0.0  # seconds since the run started, when the epoch was reported

    @classmethod
    def from_rows(
        cls,
        epoch: int,
        metrics: Mapping[str, float],
        rows: Iterable[tuple[str, int, str, Sequence[float]]],
        *,
        time: float = 0.0,
    ) -> EpochRecord:
        """One epoch from the probe's rows ``(kind, layer index, layer name, values)`` of kinds
        ``"weight"``, ``"grad"`` and ``"activation"`` (others are ignored), each kind sorted
        by layer index: how the live monitor, ``replay`` and the Python API all build it."""
        by_kind: dict[str, list[LayerStat]] = {"weight": [], "grad": [], "activation": []}
        for kind, index, name, values in rows:
            if kind in by_kind:
                by_kind[kind].append(LayerStat.from_row(kind, index, name, values))
        return cls(
            epoch=epoch,
            metrics=dict(metrics),
            weights=tuple(sorted(by_kind["weight"], key=lambda s: s.index)),
            grads=tuple(sorted(by_kind["grad"], key=lambda s: s.index)),
            activations=tuple(sorted(by_kind["activation"], key=lambda s: s.index)),
            time=float(time),
        )


@dataclass(frozen=True)
class TrialHistory:
    """A trial's parameters and the epochs it has reported so far, oldest first."""

    trial_id: int
    params: Mapping[str, Any]
    max_epochs: int
    epochs: tuple[EpochRecord, ...] = ()
    nonfinite: tuple[NonFiniteEvent, ...] = field(default=())
    # The task's ``CHANCE_LOSS``: the training loss of a model that learned nothing (ln C for
    # cross-entropy over C classes); NaN when the task does not say.
    chance_loss: float = math.nan
    # The probe's provisional record from inside epoch 1 (see EarlyEvidence), once written.
    early: EarlyEvidence | None = None
    _series: dict[str, tuple[float, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def current_epoch(self) -> int:
        """The epoch the trial is in, counted from 1 as people count: the number of epochs
        recorded, or one more when a mid-epoch event came after the last record. Verdicts,
        ``trials``, ``replay`` and the README all use this count."""
        count = len(self.epochs)
        if self.nonfinite and self.nonfinite[-1].epoch >= count:
            return count + 1
        if self.early is not None and self.early.epoch >= count:
            return count + 1
        return count

    def metric(self, name: str) -> list[float]:
        """The series of one reported metric, NaN where an epoch did not report it.

        Remembered per history (its epochs never change): the ETR rules read every cohort
        trial's series at every check, and ``simulate`` does that millions of times."""
        series = self._series.get(name)
        if series is None:
            series = tuple(float(e.metrics.get(name, math.nan)) for e in self.epochs)
            self._series[name] = series
        return list(series)


class HistoryBuilder:
    """One trial's :class:`TrialHistory`, assembled as its records come in: the one place the
    live monitor, ``replay`` (and so ``simulate``'s pools) and the Python API build histories.

    Epochs close with their metrics and per-layer rows (:meth:`EpochRecord.from_rows`); a
    non-finite event and the probe's early record seen mid-epoch are numbered by the count of
    epoch records closed before them. :meth:`history` is the trial as seen so far; each call
    returns a new immutable history (the builder never changes one it handed out).
    """

    __slots__ = ("trial_id", "params", "max_epochs", "chance_loss", "epochs", "nonfinite",
                 "early")  # fmt: skip

    def __init__(
        self,
        trial_id: int,
        params: Mapping[str, Any],
        max_epochs: int,
        *,
        chance_loss: float = math.nan,
    ) -> None:
        self.trial_id = trial_id
        self.params = params
        self.max_epochs = max_epochs
        self.chance_loss = chance_loss
        self.epochs: tuple[EpochRecord, ...] = ()
        self.nonfinite: tuple[NonFiniteEvent, ...] = ()
        self.early: EarlyEvidence | None = None

    def close_epoch(
        self,
        epoch: int,
        metrics: Mapping[str, float],
        rows: Iterable[tuple[str, int, str, Sequence[float]]],
        *,
        time: float = 0.0,
    ) -> EpochRecord:
        """Record one epoch: its reported ``metrics`` and the probe's per-layer ``rows``
        ``(kind, layer index, layer name, values)`` (see :meth:`EpochRecord.from_rows`)."""
        record = EpochRecord.from_rows(epoch, metrics, rows, time=time)
        self.epochs += (record,)
        return record

    def add_nonfinite(
        self,
        batch: int,
        layer: str,
        nan_count: float,
        inf_count: float,
        *,
        epoch: int | None = None,
    ) -> NonFiniteEvent:
        """Record a NaN/Inf gradient seen mid-epoch, numbered by the epochs closed so far
        (``epoch``: a number of its own, for an event recorded past the last epoch)."""
        number = len(self.epochs) if epoch is None else epoch
        event = NonFiniteEvent(number, batch, layer, nan_count, inf_count)
        self.nonfinite += (event,)
        return event

    def set_early(self, index: int, name: str, values: Sequence[float]) -> EarlyEvidence:
        """Record the probe's early record (``Kind.EARLY`` values, see
        :meth:`EarlyEvidence.from_values`), numbered by the epochs closed so far."""
        self.early = EarlyEvidence.from_values(len(self.epochs), index, name, values)
        return self.early

    def history(self) -> TrialHistory:
        """The trial as recorded so far."""
        return TrialHistory(
            self.trial_id, self.params, self.max_epochs, self.epochs, self.nonfinite,
            self.chance_loss, self.early,
        )  # fmt: skip
