"""The two seams of diagnosis: a rule that judges one trial's history, and an early-termination
rule that judges it against the trials that finished."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from bttackler.core.history import TrialHistory
from bttackler.core.verdict import Verdict


@runtime_checkable
class Rule(Protocol):
    """Anything the diagnoser runs: an indicator, or an ETR rule wrapped by
    :class:`~bttackler.diagnosis.diagnoser.RuleAsIndicator`.

    ``guarded`` rules are skipped for a trial the guard protects.
    """

    short_name: str
    guarded: bool

    def check(self, history: TrialHistory) -> Verdict | None: ...


@runtime_checkable
class EtrRule(Protocol):
    """An accuracy-based early-termination rule (LCE, MSR, ASHA, Hyperband): judges a running
    trial's history against other trials' histories.

    ``cohort`` says which: ``"finished"`` (LCE, MSR: the trials that ran to their end) or
    ``"all"`` (ASHA, Hyperband: every trial so far, running and stopped ones included).
    """

    short_name: str
    cohort: str

    def check(self, history: TrialHistory, cohort: Sequence[TrialHistory]) -> Verdict | None: ...
