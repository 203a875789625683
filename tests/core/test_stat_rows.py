"""A layer's statistics row through the ring, the monitor and the store: ``update_ratio``
travels with the others, and rows recorded before it existed read it as NaN."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import struct
from pathlib import Path

import pytest

from bttackler.core.history import STAT_NAMES, TENSOR_STAT_NAMES, LayerStat
from bttackler.core.ring import VERSION, Kind, RingReader, RingWriter, create_ring, shm_name
from bttackler.core.store import Store
from bttackler.runtime.monitor import Assembler

ROW = [float(i) for i in range(len(STAT_NAMES))]


def test_update_ratio_is_the_last_weight_statistic() -> None:
    assert STAT_NAMES[: len(TENSOR_STAT_NAMES)] == TENSOR_STAT_NAMES
    assert STAT_NAMES[-1] == "update_ratio"


def test_a_short_row_reads_nan_for_the_missing_statistics() -> None:
    old = LayerStat.from_row("weight", 0, "fc", ROW[: len(TENSOR_STAT_NAMES)])
    assert math.isnan(old.values["update_ratio"])
    assert old.values["abs_max"] == STAT_NAMES.index("abs_max")
    assert LayerStat.from_row("weight", 0, "fc", ROW).values["update_ratio"] == ROW[-1]


def test_an_old_store_reads_nan_update_ratios(tmp_path: Path) -> None:
    store = Store(tmp_path / "experiment.db")
    store.add_layer_stats(1, 0, [("weight", 0, "fc", ROW), ("activation", 1, "relu", [0.5])])
    store.commit()
    store.close()
    db = sqlite3.connect(tmp_path / "experiment.db")  # as an older version wrote it
    db.execute("INSERT INTO layer_stats VALUES (1, 1, 'grad', 0, 'fc', ?)", (json.dumps(ROW[:14]),))
    db.commit()
    db.close()
    store = Store(tmp_path / "experiment.db")
    rows = store.layer_stats(1)
    store.close()
    assert rows[0][4] == ROW
    assert rows[1][4] == [0.5]
    assert rows[2][4][:14] == ROW[:14] and math.isnan(rows[2][4][14])
    assert len(rows[2][4]) == len(STAT_NAMES)


@pytest.fixture
def ring():
    shm = create_ring(shm_name("stats", os.getpid() % 1000), 16)
    yield shm
    shm.close()
    shm.unlink()


def test_the_update_ratio_reaches_the_history(ring) -> None:
    writer, reader = RingWriter(ring.buf), RingReader(ring.buf)
    assembler = Assembler(0, clock=lambda t: t)
    assembler.expect(3, {}, 4)
    writer.write(Kind.WEIGHT, 3, index=0, name="fc", values=ROW)
    writer.write(Kind.EPOCH, 3, epoch=0, values=[0])
    events = [assembler.feed(r) for r in reader.read()]
    history = events[-1].history  # type: ignore[union-attr]
    assert history.epochs[0].weights[0].values["update_ratio"] == ROW[-1]


def test_a_ring_of_the_previous_version_is_refused(ring) -> None:
    struct.pack_into("<H", ring.buf, 4, VERSION - 1)  # the header's version field
    with pytest.raises(ValueError, match=f"version {VERSION - 1}"):
        RingReader(ring.buf)
