"""Verdicts on their way from the diagnosis threads to the scheduler's thread, and which of
them the run acts on."""

from __future__ import annotations

import queue
from collections.abc import Set

from bttackler.core.verdict import Verdict


def acts(verdict: Verdict, *, diagnosis: bool, always_acting: Set[str]) -> bool:
    """Whether the run stops a trial on ``verdict``: every verdict with diagnosis on; without
    it (``--no-diagnosis``: verdicts are only recorded) only the ``always_acting`` rules'
    (the accuracy rules and halving an arm asked for)."""
    return diagnosis or verdict.indicator in always_acting


class VerdictInbox:
    """A queue of (trial id, verdict): ``put`` from any thread (it is the diagnoser's verdict
    sink), ``take`` on the scheduler's thread, oldest first."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[int, Verdict]] = queue.Queue()

    def put(self, trial_id: int, verdict: Verdict) -> None:
        self._queue.put((trial_id, verdict))

    def take(self) -> list[tuple[int, Verdict]]:
        taken = []
        while True:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                return taken
