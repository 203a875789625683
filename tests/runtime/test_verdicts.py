"""Which verdicts the run acts on, and their way from the diagnosis threads in order."""

from __future__ import annotations

import threading

from bttackler.core.verdict import Verdict
from bttackler.diagnosis.etr import ETR_INDICATORS
from bttackler.runtime.verdicts import VerdictInbox, acts


def verdict(name: str, epoch: int = 1) -> Verdict:
    return Verdict(name, "rule", epoch, {}, False)


def test_with_diagnosis_every_verdict_acts_without_it_only_the_accuracy_rules():
    for name in ("ERG", "NMG", "LCE", "ASHA"):
        assert acts(verdict(name), diagnosis=True, always_acting=ETR_INDICATORS)
    assert not acts(verdict("ERG"), diagnosis=False, always_acting=ETR_INDICATORS)
    assert acts(verdict("MSR"), diagnosis=False, always_acting=ETR_INDICATORS)
    assert not acts(verdict("MSR"), diagnosis=False, always_acting=frozenset())


def test_the_inbox_hands_over_every_verdict_from_other_threads_in_order():
    inbox = VerdictInbox()
    threads = [
        threading.Thread(target=lambda t=t: [inbox.put(t, verdict("ERG", e)) for e in range(50)])
        for t in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = inbox.take()
    assert len(taken) == 200 and inbox.take() == []
    for t in range(4):
        assert [v.epoch for tid, v in taken if tid == t] == list(range(50))
