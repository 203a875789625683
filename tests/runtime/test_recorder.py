"""The recorder writes trial facts to a real store: the value a trial counts with at its end
(stored, ranked by the ledger, told to the searcher), verdicts, skips and rule errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bttackler.core.history import TrialHistory
from bttackler.core.objective import CountRule
from bttackler.core.store import Store
from bttackler.core.trial_state import TrialState
from bttackler.core.verdict import Verdict
from bttackler.runtime.ledger import Ledger
from bttackler.runtime.monitor import EpochReported
from bttackler.runtime.recorder import EndedTrial, TrialRecorder
from bttackler.runtime.snapshot import View


class Said(View):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def event(self, text: str) -> None:
        self.lines.append(text)


def recorder(tmp_path: Path, count: CountRule = CountRule.LAST) -> TrialRecorder:
    store = Store.open(tmp_path)
    return TrialRecorder(store, Ledger("max"), Said(), objective="acc", mode="max", count=count)


def run_trial(rec: TrialRecorder, x: int, accs: list[float], state: TrialState,
              verdict: Verdict | None = None) -> EndedTrial:  # fmt: skip
    """A trial reporting ``accs``, stopped by ``verdict`` (if any), ended in ``state``."""
    live = rec.started({"x": x}, slot=0, now=0.0)
    for epoch, acc in enumerate(accs):
        history = TrialHistory(live.trial_id, {"x": x}, 4, (), ())
        rec.epoch(live, EpochReported(live.trial_id, 0, epoch, {"acc": acc}, (), float(epoch),
                                      history))  # fmt: skip
    if verdict is not None:
        rec.verdict(live.trial_id, verdict, acted=True, now=1.0)
        rec.stopped_by(live, verdict)
    ended = rec.ended(live.trial_id, state, verdict and verdict.rule, 5.0)
    assert ended is not None
    return ended


def nmg() -> Verdict:
    return Verdict("NMG", "no progress", 2, {}, True)


def erg() -> Verdict:
    return Verdict("ERG", "exploding", 2, {}, False)


@pytest.mark.parametrize("count", list(CountRule))
def test_every_trial_counts_by_the_rule_whatever_stopped_it(tmp_path, count):
    rec = recorder(tmp_path, count)
    a = run_trial(rec, 1, [0.5, 0.9, 0.6], TrialState.TERMINATED, nmg())
    b = run_trial(rec, 2, [0.7, 0.85, 0.8], TrialState.FINISHED)
    c = run_trial(rec, 3, [0.2, 0.3, 0.1], TrialState.TERMINATED, erg())
    rec.store.commit()
    rows = {r.id: r for r in rec.store.trials()}
    # The store keeps the facts: the last value as the value, the best next to it.
    assert (rows[a.live.trial_id].value, rows[a.live.trial_id].best_value) == (0.6, 0.9)
    assert (rows[b.live.trial_id].value, rows[b.live.trial_id].best_value) == (0.8, 0.85)
    assert rows[c.live.trial_id].indicator == "ERG"
    told = [e.told for e in (a, b, c)]
    assert all(e.tells for e in (a, b, c))
    if count is CountRule.LAST:
        assert told == [0.6, 0.8, 0.1]
        assert rec.ledger.best is not None and rec.ledger.best[:2] == (0.8, b.live.trial_id)
    else:
        assert told == [0.9, 0.85, 0.3]
        assert rec.ledger.best is not None and rec.ledger.best[:2] == (0.9, a.live.trial_id)
    assert rec.ledger.counts.by_indicator == {"NMG": 1, "ERG": 1}
    rec.store.close()


def test_a_failed_trial_tells_nothing_and_is_bad(tmp_path):
    rec = recorder(tmp_path, CountRule.BEST)
    ended = run_trial(rec, 1, [0.5], TrialState.FAILED)
    assert ended.tells and ended.told is None and ended.bad
    assert rec.ledger.best is None
    rec.store.close()


def test_a_stopped_trial_is_not_told_and_a_problem_verdict_makes_it_bad(tmp_path):
    rec = recorder(tmp_path)
    stopped = run_trial(rec, 1, [0.5], TrialState.STOPPED)
    assert not stopped.tells and not stopped.bad
    killed = run_trial(rec, 2, [0.1, 0.1], TrialState.TERMINATED, erg())
    assert killed.bad  # ERG is a problem
    slow = run_trial(rec, 3, [0.5, 0.5], TrialState.TERMINATED, nmg())
    assert not slow.bad  # NMG says it stopped improving, not that it is broken
    rec.store.close()


def test_an_end_is_recorded_once_and_said_in_the_view(tmp_path):
    rec = recorder(tmp_path)
    ended = run_trial(rec, 1, [0.5, 0.75], TrialState.FINISHED)
    assert rec.ended(ended.live.trial_id, TrialState.STOPPED, "late", 9.0) is None
    assert rec.view.lines == ["trial 1 finished: acc=0.75 after 2 epochs, 5.0s"]  # type: ignore[attr-defined]
    rec.store.commit()
    assert [r.state for r in rec.store.trials()] == ["finished"]
    rec.store.close()


def test_a_skip_is_stored_counted_and_said(tmp_path):
    rec = recorder(tmp_path)
    trial_id = rec.skipped({"x": 9}, "P(bad) 0.9", 1.0)
    rec.store.commit()
    (row,) = rec.store.trials()
    assert (row.id, row.state, row.reason) == (trial_id, "skipped", "P(bad) 0.9")
    assert rec.ledger.counts.skipped == 1 and rec.ledger.counts.ended == 0
    assert rec.view.lines == [f"trial {trial_id} skipped (P(bad) 0.9)"]  # type: ignore[attr-defined]
    rec.store.close()


def test_a_rules_error_is_stored_once_per_trial(tmp_path):
    rec = recorder(tmp_path)
    live = rec.started({"x": 1}, slot=0, now=0.0)
    for now in (1.0, 2.0, 3.0):
        rec.rule_error(live.trial_id, "BROKEN", "ValueError: oops", now)
    rec.rule_error(live.trial_id, "OTHER", "KeyError: k", 4.0)
    rec.store.commit()
    assert rec.store.rule_errors() == {
        live.trial_id: [
            {"rule": "BROKEN", "error": "ValueError: oops"},
            {"rule": "OTHER", "error": "KeyError: k"},
        ]
    }
    rec.store.close()


def test_a_resumed_ledger_counts_the_stored_rows_by_the_same_rule(tmp_path):
    rec = recorder(tmp_path)
    a = run_trial(rec, 1, [0.5, 0.9, 0.6], TrialState.TERMINATED, nmg())
    b = run_trial(rec, 2, [0.7, 0.85, 0.8], TrialState.FINISHED)
    rec.store.commit()
    rows = rec.store.trials()
    assert Ledger.from_rows(rows, "max", CountRule.LAST).best[:2] == (0.8, b.live.trial_id)  # type: ignore[index]
    assert Ledger.from_rows(rows, "max", CountRule.BEST).best[:2] == (0.9, a.live.trial_id)  # type: ignore[index]
    rec.store.close()
