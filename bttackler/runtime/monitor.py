"""The monitor: a thread in the main process that drains every slot's ring, turns records into
events (epoch reported, trial ended, ...) and hands them to the scheduler through a queue.

Records of one trial arrive in order (one writer per ring); per-layer statistics that arrive
before an epoch's ``EPOCH`` record belong to that epoch.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from bttackler.core.history import (
    STAT_NAMES,
    EarlyEvidence,
    HistoryBuilder,
    NonFiniteEvent,
    TrialHistory,
)
from bttackler.core.ring import Kind, Record, decode_all
from bttackler.diagnosis.diagnoser import Diagnoser

_STAT_KIND = {Kind.WEIGHT: "weight", Kind.GRAD: "grad", Kind.ACTIVATION: "activation"}


@dataclass(frozen=True)
class TrialStarted:
    trial_id: int
    slot: int
    pid: int
    time: float


@dataclass(frozen=True)
class EpochReported:
    trial_id: int
    slot: int
    epoch: int
    metrics: dict[str, float]
    layer_rows: tuple[tuple[str, int, str, tuple[float, ...]], ...]  # (kind, index, name, values)
    time: float
    history: TrialHistory


@dataclass(frozen=True)
class NonFiniteSeen:
    trial_id: int
    slot: int
    event: NonFiniteEvent
    time: float
    history: TrialHistory


@dataclass(frozen=True)
class EarlySeen:
    """The probe's provisional record from inside epoch 1 (``Kind.EARLY``)."""

    trial_id: int
    slot: int
    event: EarlyEvidence
    time: float
    history: TrialHistory


@dataclass(frozen=True)
class TrialExited:
    trial_id: int
    slot: int
    exit_code: int
    signal: int
    kill_requested: bool
    error: str | None
    time: float
    note: str | None = None  # "unread:a,b": search-space parameters the task never read


Event = TrialStarted | EpochReported | NonFiniteSeen | EarlySeen | TrialExited


def feed_diagnoser(diagnoser: Diagnoser) -> Callable[[Event], None]:
    """A monitor ``on_event`` hook that hands each event's history to ``diagnoser``."""

    def on_event(event: Event) -> None:
        if isinstance(event, EpochReported):
            diagnoser.epoch_reported(event.history)
        elif isinstance(event, NonFiniteSeen):
            diagnoser.nonfinite_seen(event.history)
        elif isinstance(event, EarlySeen):
            diagnoser.early_seen(event.history)
        elif isinstance(event, TrialExited):
            diagnoser.trial_ended(event.trial_id, event.exit_code == 0 and not event.kill_requested)

    return on_event


@dataclass
class _TrialState:
    builder: HistoryBuilder
    metrics: dict[str, float] = field(default_factory=dict)  # of the epoch being recorded
    pending_stats: list[tuple[str, int, str, tuple[float, ...]]] = field(default_factory=list)
    error_parts: list[str] = field(default_factory=list)
    error_expected: int = 0
    note_parts: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)  # the text record MESSAGEs continue

    def history(self) -> TrialHistory:
        return self.builder.history()


class Assembler:
    """Turns one slot's decoded records into events. Pure bookkeeping, no threads."""

    def __init__(self, slot: int, clock: Callable[[float], float]) -> None:
        self.slot = slot
        self._clock = clock
        self._trials: dict[int, _TrialState] = {}

    def expect(
        self,
        trial_id: int,
        params: dict[str, Any],
        max_epochs: int,
        *,
        chance_loss: float = math.nan,
    ) -> None:
        """Register a trial before it starts (its parameters feed the indicators)."""
        builder = HistoryBuilder(trial_id, dict(params), max_epochs, chance_loss=chance_loss)
        self._trials[trial_id] = _TrialState(builder)

    def feed(self, record: Record) -> Event | None:
        state = self._trials.get(record.trial_id)
        if state is None:
            return None  # a record of a trial this run no longer follows
        kind = record.kind
        when = self._clock(record.time)
        if kind == Kind.METRIC:
            state.metrics[record.name] = record.values[0]
        elif kind in _STAT_KIND:
            stat_kind = _STAT_KIND[Kind(kind)]
            width = 1 if stat_kind == "activation" else len(STAT_NAMES)
            state.pending_stats.append(
                (stat_kind, record.layer, record.name, record.values[:width])
            )
        elif kind == Kind.EPOCH:
            return self._close_epoch(state, record, when)
        elif kind == Kind.NONFINITE:
            event = state.builder.add_nonfinite(
                int(record.values[2]), record.name, record.values[0], record.values[1]
            )
            return NonFiniteSeen(record.trial_id, self.slot, event, when, state.history())
        elif kind == Kind.EARLY:
            early = state.builder.set_early(record.layer, record.name, record.values)
            return EarlySeen(record.trial_id, self.slot, early, when, state.history())
        elif kind == Kind.STARTED:
            return TrialStarted(record.trial_id, self.slot, int(record.values[0]), when)
        elif kind == Kind.ERROR:
            state.error_parts = [record.name]
            state.error_expected = int(record.values[0])
            state.text = state.error_parts
        elif kind == Kind.NOTE:
            state.note_parts = [record.name]
            state.text = state.note_parts
        elif kind == Kind.MESSAGE:
            state.text.append(record.name)
        elif kind == Kind.EXIT:
            del self._trials[record.trial_id]
            error = "".join(state.error_parts) if state.error_parts else None
            return TrialExited(
                trial_id=record.trial_id,
                slot=self.slot,
                exit_code=int(record.values[0]),
                signal=int(record.values[1]),
                kill_requested=bool(record.values[2]),
                error=error,
                time=when,
                note="".join(state.note_parts) or None,
            )
        return None

    def _close_epoch(self, state: _TrialState, record: Record, when: float) -> EpochReported:
        metrics = state.metrics
        stats = tuple(state.pending_stats)
        state.metrics, state.pending_stats = {}, []
        state.builder.close_epoch(record.epoch, metrics, stats, time=when)
        return EpochReported(
            trial_id=record.trial_id,
            slot=self.slot,
            epoch=record.epoch,
            metrics=metrics,
            layer_rows=stats,
            time=when,
            history=state.history(),
        )


class RecordSource(Protocol):
    """One slot's records: a ``RingReader`` locally, a ring drained on a remote node
    elsewhere. ``lost`` counts records that never arrived (overrun), never silently."""

    lost: int

    def read_array(self, limit: int | None = None) -> np.ndarray: ...


class Monitor(threading.Thread):
    """Drains all rings every ``interval`` seconds into :attr:`events`.

    ``on_event`` (optional) is called on the monitor thread for every event before it is
    queued; the diagnosis hooks in there so indicators never run on the scheduler's thread.
    """

    def __init__(
        self,
        readers: Sequence[RecordSource],
        assemblers: Sequence[Assembler],
        *,
        interval: float = 0.005,
        on_event: Callable[[Event], None] | None = None,
        keep_lags: bool = False,
    ) -> None:
        super().__init__(name="bttackler-monitor", daemon=True)
        self.lags: list[float] | None = [] if keep_lags else None  # per record, for benchmarks
        self.readers = list(readers)
        self.assemblers = list(assemblers)
        self.events: queue.Queue[Event] = queue.Queue()
        self.interval = interval
        self.on_event = on_event
        self.records_read = 0
        self.max_lag = 0.0  # seconds between a record's write and its read
        self.lag_total = 0.0  # summed over every record read, for the mean
        self.errors: list[str] = []
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def lag_summary(self) -> dict[str, float]:
        """Write-to-read lag of the records read so far: mean and max seconds, and count."""
        count = self.records_read
        return {"mean": self.lag_total / count if count else 0.0, "max": self.max_lag,
                "records": count}  # fmt: skip

    @property
    def lost(self) -> int:
        return sum(r.lost for r in self.readers)

    def expect(
        self,
        slot: int,
        trial_id: int,
        params: dict[str, Any],
        max_epochs: int,
        *,
        chance_loss: float = math.nan,
    ) -> None:
        with self._lock:
            self.assemblers[slot].expect(trial_id, params, max_epochs, chance_loss=chance_loss)

    def drain_once(self) -> int:
        """Read every ring once; returns the number of records read."""
        count = 0
        with self._lock:
            for reader, assembler in zip(self.readers, self.assemblers):
                rows = reader.read_array()
                if not len(rows):
                    continue
                lags = time.time() - rows["time"]
                self.max_lag = max(self.max_lag, float(lags.max()))
                self.lag_total += float(lags.sum())
                if self.lags is not None:
                    self.lags.extend(lags.tolist())
                count += len(rows)
                for record in decode_all(rows):
                    event = assembler.feed(record)
                    if event is not None:
                        self._dispatch(event)
        self.records_read += count
        return count

    def _dispatch(self, event: Event) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception as exc:  # a bug in a hook must not stop the monitor
                self.errors.append(f"{type(exc).__name__}: {exc}")
        self.events.put(event)

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                read = self.drain_once()
            except Exception as exc:  # one bad source must not blind the whole run
                self.errors.append(f"{type(exc).__name__}: {exc}")
                read = 0
            if read == 0:
                self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(2.0)
        self.drain_once()


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
