"""Warnings said once where the user looks; rule and monitor errors warned of once per source,
stored once per rule and trial, and counted."""

from __future__ import annotations

from bttackler.core.objective import CountRule
from bttackler.core.store import Store
from bttackler.diagnosis.diagnoser import RuleError
from bttackler.runtime.ledger import Ledger
from bttackler.runtime.recorder import TrialRecorder
from bttackler.runtime.run_warnings import ErrorReport, RunWarnings
from bttackler.runtime.snapshot import View


class Said(View):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def event(self, text: str) -> None:
        self.lines.append(text)


def test_errors_are_warned_once_per_source_stored_per_trial_and_counted(tmp_path):
    store = Store.open(tmp_path)
    view = Said()
    recorder = TrialRecorder(store, Ledger("max"), view, objective="acc", mode="max",
                             count=CountRule.LAST)  # fmt: skip
    warnings = RunWarnings(view, store)
    report = ErrorReport(warnings, recorder)
    one = recorder.started({"x": 1}, 0, 0.0).trial_id
    two = recorder.started({"x": 2}, 1, 0.0).trial_id
    errors = [RuleError("BROKEN", one, "ValueError: oops")]
    report.report(errors, [], 1.0)
    errors += [RuleError("BROKEN", one, "ValueError: oops")]
    errors += [RuleError("BROKEN", two, "ValueError: oops")]
    report.report(errors, ["ring garbled"], 2.0)
    report.report(errors, ["ring garbled"], 3.0)  # nothing new: nothing said
    store.commit()
    assert [w for w in view.lines if "raised" in w] == [
        "warning: BROKEN raised and judged nothing there (BROKEN on trial 1: ValueError: oops); "
        "it goes on, and later errors are only counted (meta diagnosis_errors)",
        "warning: monitor raised and judged nothing there (monitor: ring garbled); it goes on, "
        "and later errors are only counted (meta diagnosis_errors)",
    ]
    meta = store.meta()
    assert meta["diagnosis_errors"] == 4
    assert len(meta["warnings"]) == 2 and warnings.lines == meta["warnings"]
    assert sorted(store.rule_errors()) == [one, two]
    assert all(len(v) == 1 for v in store.rule_errors().values())
    store.close()
