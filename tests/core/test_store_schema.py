"""The store's schema: written, checked, an older store migrated (writer) or corrected
(reader), a newer one refused; the read-only store has no way to write."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bttackler.core.errors import BttacklerError
from bttackler.core.store import SCHEMA_VERSION, ReadOnlyStore, Store
from bttackler.core.trial_state import TrialState


def old_run(tmp_path: Path) -> Path:
    """A schema-1 run as the old code wrote it: an NMG trial whose value is its best (0.9),
    not its last (0.6); a finished trial right as it is."""
    store = Store.open(tmp_path)
    store.set_meta(objective="acc", mode="max")
    for accs, indicator in (([0.5, 0.9, 0.6], "NMG"), ([0.7, 0.8], None)):
        tid = store.add_trial({"lr": 0.1}, 0, 0.0)
        for epoch, acc in enumerate(accs):
            store.add_epoch(tid, epoch, float(epoch), {"acc": acc, "loss": 1.0})
        stored = max(accs) if indicator else accs[-1]
        store.update_progress(tid, len(accs), stored, max(accs))
        state = TrialState.TERMINATED if indicator else TrialState.FINISHED
        store.end_trial(tid, state, None, 3.0)
        if indicator:
            store.set_verdict(tid, indicator, "no gain", len(accs))
    store.set_meta(schema=1)
    store.close()
    return tmp_path


def values(store: Store | ReadOnlyStore) -> list[float | None]:
    return [r.value for r in store.trials()]


def test_a_new_store_says_its_schema(tmp_path):
    store = Store.open(tmp_path)
    assert store.meta()["schema"] == SCHEMA_VERSION
    store.close()


def test_a_reader_corrects_an_old_stores_nmg_value_without_writing(tmp_path):
    run = old_run(tmp_path)
    before = (run / "experiment.db").read_bytes()
    reader = ReadOnlyStore.open(run)
    assert reader.schema == 1 and values(reader) == [0.6, 0.8]
    reader.close()
    assert (run / "experiment.db").read_bytes() == before


def test_the_writer_migrates_an_old_store_on_open(tmp_path):
    run = old_run(tmp_path)
    store = Store.open(run)  # as --resume opens it
    assert values(store) == [0.6, 0.8] and store.meta()["schema"] == SCHEMA_VERSION
    store.close()
    with sqlite3.connect(run / "experiment.db") as con:
        assert [v for (v,) in con.execute("SELECT value FROM trials ORDER BY id")] == [0.6, 0.8]
    reader = ReadOnlyStore.open(run)
    assert reader.schema == SCHEMA_VERSION and values(reader) == [0.6, 0.8]
    reader.close()


def test_a_store_of_a_newer_bttackler_is_refused_by_readers_and_the_writer(tmp_path):
    store = Store.open(tmp_path)
    store.close()
    with sqlite3.connect(tmp_path / "experiment.db") as con:
        con.execute("UPDATE meta SET value=? WHERE key='schema'", (json.dumps(99),))
    for opener in (ReadOnlyStore.open, Store.open):
        with pytest.raises(BttacklerError, match="newer bttackler .*schema 99.*upgrade"):
            opener(tmp_path)


def test_the_read_only_store_has_no_writers_and_sqlite_refuses_writes(tmp_path):
    Store.open(tmp_path).close()
    reader = ReadOnlyStore.open(tmp_path)
    for name in ("set_meta", "add_trial", "end_trial", "add_epoch", "add_verdict", "commit"):
        assert not hasattr(reader, name), name
    with pytest.raises(sqlite3.OperationalError):
        reader._db.execute("INSERT INTO meta VALUES ('x', '1')")
    reader.close()


def test_rows_have_names(tmp_path):
    store = Store.open(tmp_path)
    tid = store.add_trial({}, 0, 0.0)
    store.add_epoch(tid, 0, 1.5, {"acc": 0.5})
    store.add_nonfinite(tid, 0, 3, "fc", 2.0, 0.0, 1.0)
    store.commit()
    (epoch,) = store.epochs(tid)
    assert (epoch.epoch, epoch.time, epoch.metrics) == (0, 1.5, {"acc": 0.5})
    (bad,) = store.nonfinite_events(tid)
    assert (bad.layer, bad.batch, bad.nan_count) == ("fc", 3, 2.0)
    store.close()
