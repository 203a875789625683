"""The value a trial counts with at its end: stored, told to the searcher, ranked by the ledger.

The scheduler is driven through its event and end handlers with a real store and a recording
searcher; no worker slot runs (a slot stand-in only carries the trial id).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bttackler.core.history import TrialHistory
from bttackler.core.objective import CountRule
from bttackler.core.store import Store, TrialState
from bttackler.runtime.ledger import Ledger
from bttackler.runtime.monitor import EpochReported
from bttackler.runtime.scheduler import LiveTrial, Scheduler, SchedulerSettings
from bttackler.runtime.snapshot import View


class RecordingSearcher:
    def __init__(self) -> None:
        self.told: list[tuple[dict[str, Any], float | None]] = []

    def ask(self) -> dict[str, Any]:  # pragma: no cover - never asked here
        raise AssertionError

    def tell(self, params: Mapping[str, Any], value: float | None) -> None:
        self.told.append((dict(params), value))


def scheduler(tmp_path: Path, count: CountRule) -> tuple[Scheduler, RecordingSearcher, Store]:
    settings = SchedulerSettings(
        budget_seconds=60.0, max_trials=None, trial_timeout=None, kill_grace=0.1, seed=0,
        objective="acc", mode="max", max_epochs=4, diagnosis=True, ring_capacity=16,
        count=count,
    )  # fmt: skip
    searcher = RecordingSearcher()
    store = Store.open(tmp_path)
    sched = Scheduler(settings=settings, slot_specs=[], searcher=searcher,  # type: ignore[arg-type]
                      store=store, run_dir=tmp_path, view=View())  # fmt: skip
    return sched, searcher, store


def run_trial(sched: Scheduler, store: Store, x: int, accs: list[float], state: TrialState,
              indicator: str | None) -> int:  # fmt: skip
    """A trial on slot 0 reporting ``accs``, ended in ``state`` (stopped by ``indicator``)."""
    tid = store.add_trial({"x": x}, 0, 0.0)
    sched.live[tid] = LiveTrial(tid, {"x": x}, slot=0, started=0.0, indicator=indicator)
    sched._slots = [SimpleNamespace(trial_id=tid, epoch=None)]  # type: ignore[list-item]
    for epoch, acc in enumerate(accs):
        history = TrialHistory(tid, {"x": x}, 4, (), ())
        sched._apply(EpochReported(tid, 0, epoch, {"acc": acc}, (), float(epoch), history))
    sched._end(tid, state, f"{indicator}: rule" if indicator else None, 5.0)
    return tid


@pytest.mark.parametrize("count", list(CountRule))
def test_every_trial_counts_by_the_rule_whatever_stopped_it(tmp_path, count):
    sched, searcher, store = scheduler(tmp_path, count)
    nmg = run_trial(sched, store, 1, [0.5, 0.9, 0.6], TrialState.TERMINATED, "NMG")
    overfit = run_trial(sched, store, 2, [0.7, 0.85, 0.8], TrialState.FINISHED, None)
    run_trial(sched, store, 3, [0.2, 0.3, 0.1], TrialState.TERMINATED, "ERG")
    store.commit()
    rows = {r.id: r for r in store.trials()}
    # The store keeps the facts: the last value as the value, the best next to it.
    assert (rows[nmg].value, rows[nmg].best_value) == (0.6, 0.9)
    assert (rows[overfit].value, rows[overfit].best_value) == (0.8, 0.85)
    if count is CountRule.LAST:
        assert searcher.told == [({"x": 1}, 0.6), ({"x": 2}, 0.8), ({"x": 3}, 0.1)]
        assert sched.best is not None and sched.best[:2] == (0.8, overfit)
    else:
        assert searcher.told == [({"x": 1}, 0.9), ({"x": 2}, 0.85), ({"x": 3}, 0.3)]
        assert sched.best is not None and sched.best[:2] == (0.9, nmg)
    store.close()


def test_a_failed_trial_tells_nothing_under_either_rule(tmp_path):
    sched, searcher, store = scheduler(tmp_path, CountRule.BEST)
    run_trial(sched, store, 1, [0.5], TrialState.FAILED, None)
    assert searcher.told == [({"x": 1}, None)] and sched.best is None
    store.close()


def test_a_resumed_ledger_counts_the_stored_rows_by_the_same_rule(tmp_path):
    sched, _, store = scheduler(tmp_path, CountRule.LAST)
    nmg = run_trial(sched, store, 1, [0.5, 0.9, 0.6], TrialState.TERMINATED, "NMG")
    overfit = run_trial(sched, store, 2, [0.7, 0.85, 0.8], TrialState.FINISHED, None)
    store.commit()
    rows = store.trials()
    assert Ledger.from_rows(rows, "max", CountRule.LAST).best[:2] == (0.8, overfit)  # type: ignore[index]
    assert Ledger.from_rows(rows, "max", CountRule.BEST).best[:2] == (0.9, nmg)  # type: ignore[index]
    store.close()
