"""``HistoryBuilder``: the one place a trial's history is assembled. The live monitor, replay
(and so simulate's pools) and the Python API all build theirs with it, so the same records
give the same histories wherever they come from."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

from bttackler.analysis.replay import trial_events
from bttackler.core.history import (
    STAT_NAMES,
    EarlyEvidence,
    EpochRecord,
    HistoryBuilder,
    NonFiniteEvent,
    TrialHistory,
)
from bttackler.core.ring import Kind, Record
from bttackler.runtime.monitor import Assembler

ROW = tuple(float(i) for i in range(len(STAT_NAMES)))
EARLY = EarlyEvidence(0, 12, 2, 1.0, "relu", 1, 12, 2.30, 2.29, 4)
ROWS_0 = [("grad", 1, "fc2", ROW), ("grad", 0, "fc1", ROW), ("activation", 1, "relu", (0.4,))]
ROWS_1 = [("weight", 0, "fc1", ROW)]


def test_the_builder_assembles_epochs_and_mid_epoch_events_in_order() -> None:
    builder = HistoryBuilder(7, {"lr": 0.1}, 4, chance_loss=math.log(10))
    empty = builder.history()
    early = builder.set_early(1, "relu", EARLY.to_values())
    first = builder.close_epoch(0, {"loss": 2.0}, ROWS_0, time=1.0)
    nan = builder.add_nonfinite(3, "fc1", 2.0, 0.0)
    second = builder.close_epoch(1, {"loss": 1.0}, ROWS_1, time=2.0)
    late = builder.add_nonfinite(5, "fc2", 0.0, 1.0, epoch=4)

    assert early == EARLY  # numbered by the epochs closed before it: inside epoch 1
    assert first == EpochRecord.from_rows(0, {"loss": 2.0}, ROWS_0, time=1.0)
    assert [s.name for s in first.grads] == ["fc1", "fc2"]  # sorted by layer index
    assert nan == NonFiniteEvent(1, 3, "fc1", 2.0, 0.0)
    assert late == NonFiniteEvent(4, 5, "fc2", 0.0, 1.0)  # past the last record: its own
    assert builder.history() == TrialHistory(
        trial_id=7, params={"lr": 0.1}, max_epochs=4, epochs=(first, second),
        nonfinite=(nan, late), chance_loss=math.log(10), early=EARLY,
    )  # fmt: skip
    # a history handed out never changes
    assert empty == TrialHistory(7, {"lr": 0.1}, 4, chance_loss=math.log(10))
    assert builder.history().metric("loss") == [2.0, 1.0]


def test_a_later_early_record_replaces_the_first() -> None:
    builder = HistoryBuilder(1, {}, 3)
    builder.set_early(1, "relu", EARLY.to_values())
    builder.close_epoch(0, {}, [])
    again = builder.set_early(2, "relu2", EARLY.to_values())
    assert builder.history().early == again and again.epoch == 1 and again.dead_index == 2
    assert math.isnan(builder.history().chance_loss)


def _records() -> list[Record]:
    """One trial's ring records: early record and a NaN gradient inside epoch 1 (0-based 0),
    two epochs with per-layer rows, a NaN gradient inside epoch 2."""

    def rec(kind: Kind, time: float, name: str = "", values: tuple[float, ...] = (),
            epoch: int = 0, layer: int = -1) -> Record:  # fmt: skip
        return Record(0, int(kind), 7, epoch, layer, time, name, values)

    return [
        rec(Kind.EARLY, 0.5, "relu", tuple(EARLY.to_values()), layer=1),
        rec(Kind.NONFINITE, 0.7, "fc1", (1.0, 0.0, 2.0)),
        rec(Kind.METRIC, 0.9, "loss", (2.0,)),
        rec(Kind.GRAD, 0.9, "fc2", ROW, layer=1),
        rec(Kind.GRAD, 0.9, "fc1", ROW, layer=0),
        rec(Kind.ACTIVATION, 0.9, "relu", (0.4,), layer=1),
        rec(Kind.EPOCH, 1.0, values=(1.0,)),
        rec(Kind.NONFINITE, 1.5, "fc1", (2.0, 0.0, 3.0)),
        rec(Kind.METRIC, 1.9, "loss", (1.0,), epoch=1),
        rec(Kind.WEIGHT, 1.9, "fc1", ROW, epoch=1, layer=0),
        rec(Kind.EPOCH, 2.0, values=(1.0,), epoch=1),
    ]


def test_the_monitor_and_replay_build_the_same_histories() -> None:
    assembler = Assembler(0, clock=lambda t: t)
    assembler.expect(7, {"lr": 0.1}, 4, chance_loss=2.3)
    live = [(e.time, e.history) for r in _records() if (e := assembler.feed(r)) is not None]
    trial: Any = SimpleNamespace(id=7, params={"lr": 0.1})
    replayed = trial_events(
        trial, 4,
        epochs=[(0, 1.0, {"loss": 2.0}), (1, 2.0, {"loss": 1.0})],
        layer_stats=[(0, kind, index, name, values) for kind, index, name, values in ROWS_0]
        + [(1, kind, index, name, values) for kind, index, name, values in ROWS_1],
        nonfinite=[(0, 2, "fc1", 1.0, 0.0, 0.7), (1, 3, "fc1", 2.0, 0.0, 1.5)],
        chance_loss=2.3,
        early=[(0, 1, "relu", EARLY.to_values(), 0.5)],
    )  # fmt: skip
    assert [t for t, _ in live] == [e.time for e in replayed] == [0.5, 0.7, 1.0, 1.5, 2.0]
    assert [h for _, h in live] == [e.history for e in replayed]
    last = live[-1][1]
    assert last.early == EARLY and [e.epoch for e in last.nonfinite] == [0, 1]
    assert last.epochs[0].activations[0].values == {"inactive_ratio": 0.4}
    assert last.current_epoch() == 2
