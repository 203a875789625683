"""The ledger of trial outcomes: how many trials ended in each state, the terminations per
indicator, and the best counted trial. The scheduler records every end with the value the run's
count rule picks; a resumed run rebuilds its ledger from the store's rows with the same rule."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from bttackler.core.objective import CountRule, Mode
from bttackler.core.store import TrialRow
from bttackler.core.trial_state import RANKED, TrialState
from bttackler.runtime.snapshot import RunCounts


class Ledger:
    def __init__(self, mode: Mode | str) -> None:
        self.mode = Mode.of(mode)
        self.counts = RunCounts()
        self.best: tuple[float, int, dict[str, Any]] | None = None

    def record(
        self,
        trial_id: int,
        state: TrialState,
        *,
        indicator: str | None,
        value: float | None,
        params: dict[str, Any],
    ) -> None:
        """A trial ended in ``state`` (terminated by ``indicator``), counting with ``value``."""
        c = self.counts
        if state is TrialState.FINISHED:
            c.finished += 1
        elif state is TrialState.FAILED:
            c.failed += 1
        elif state is TrialState.TERMINATED:
            c.terminated += 1
            if indicator:
                c.by_indicator[indicator] = c.by_indicator.get(indicator, 0) + 1
        elif state is TrialState.STOPPED:
            c.stopped += 1
        elif state is TrialState.SKIPPED:
            c.skipped += 1
        if (
            state in RANKED
            and value is not None
            and math.isfinite(value)
            and (self.best is None or self.mode.better(value, self.best[0]))
        ):
            self.best = (value, trial_id, params)

    @classmethod
    def from_rows(cls, rows: Iterable[TrialRow], mode: Mode | str, count: CountRule) -> Ledger:
        """The ledger of a run's stored trials (those still ``running`` are not counted), each
        counting with the value ``count`` picks."""
        ledger = cls(mode)
        for row in rows:
            ledger.record(
                row.id,
                TrialState(row.state),
                indicator=row.indicator,
                value=count.pick(row.value, row.best_value),
                params=row.params,
            )
        return ledger
