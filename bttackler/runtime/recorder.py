"""The run's trial records: what happens to each trial, written to the store and the ledger.

The recorder keeps the running trials (:class:`LiveTrial`) and is the only code that writes
trial facts to the store: a trial started or skipped, each epoch's metrics and per-layer
statistics, non-finite values and early-window readings, verdicts, a rule's error, and the
trial's end with the value it counts with. It says each end in the live view. What an end
means for the search (the searcher told, fail fast) is the scheduler's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bttackler.core.objective import CountRule, is_better
from bttackler.core.store import Store
from bttackler.core.trial_state import OUTCOMES, TrialState
from bttackler.core.verdict import Verdict, plural
from bttackler.diagnosis.avoid import is_problem
from bttackler.runtime.ledger import Ledger
from bttackler.runtime.monitor import EarlySeen, EpochReported, NonFiniteSeen
from bttackler.runtime.snapshot import View


@dataclass
class LiveTrial:
    """What is known of a running trial."""

    trial_id: int
    params: dict[str, Any]
    slot: int
    started: float
    epochs: int = 0
    value: float | None = None  # the last reported objective
    best_value: float | None = None
    indicator: str | None = None  # the verdict that stopped it, if one did
    reported: set[str] = field(default_factory=set)  # every metric name it reported
    layer_stats: bool = False  # whether any epoch carried per-layer statistics
    retry_of: int | None = None  # the interrupted trial this one runs again
    problem: bool = False  # a problem verdict came (acted on or recorded): bad for --avoid-bad


@dataclass(frozen=True)
class EndedTrial:
    """A trial's end as recorded: the live record, how it ended and the value it counts with."""

    live: LiveTrial
    state: TrialState
    reason: str | None
    counted: float | None

    @property
    def tells(self) -> bool:
        """Whether the searcher hears of this end."""
        return self.state in OUTCOMES

    @property
    def told(self) -> float | None:
        """What the searcher is told: the counted value, or None (a failure)."""
        return None if self.state is TrialState.FAILED else self.counted

    @property
    def bad(self) -> bool:
        """A bad outcome for ``--avoid-bad``'s model: failed, or a problem verdict came."""
        return self.state is TrialState.FAILED or self.live.problem


class TrialRecorder:
    """Writes trial facts to ``store`` and ends to ``ledger`` (module docstring)."""

    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        view: View,
        *,
        objective: str,
        mode: str,
        count: CountRule,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.view = view
        self.objective = objective
        self.mode = mode
        self.count = count
        self.live: dict[int, LiveTrial] = {}
        self._errors_stored: set[tuple[int, str]] = set()

    def started(
        self, params: dict[str, Any], slot: int, now: float, retry_of: int | None = None
    ) -> LiveTrial:
        trial_id = self.store.add_trial(params, slot, now, retry_of=retry_of)
        live = LiveTrial(trial_id, dict(params), slot, now, retry_of=retry_of)
        self.live[trial_id] = live
        return live

    def skipped(self, params: dict[str, Any], reason: str, now: float) -> int:
        """A configuration ``--avoid-bad`` did not start: stored and counted, with why."""
        trial_id = self.store.add_skipped(params, reason, now)
        self.ledger.record(trial_id, TrialState.SKIPPED, indicator=None, value=None,
                           params=params)  # fmt: skip
        self.view.event(f"trial {trial_id} skipped ({reason})")
        return trial_id

    def epoch(self, live: LiveTrial, event: EpochReported) -> None:
        live.epochs += 1
        self.store.add_epoch(live.trial_id, event.epoch, event.time, event.metrics)
        if event.layer_rows:
            self.store.add_layer_stats(live.trial_id, event.epoch, event.layer_rows)
            live.layer_stats = True
        live.reported.update(event.metrics)
        value = event.metrics.get(self.objective)
        if value is not None:
            live.value = value
            if math.isfinite(value) and (
                live.best_value is None or is_better(value, live.best_value, self.mode)
            ):
                live.best_value = value
        self.store.update_progress(live.trial_id, live.epochs, live.value, live.best_value)

    def nonfinite(self, live: LiveTrial, event: NonFiniteSeen) -> None:
        e = event.event
        self.store.add_nonfinite(
            live.trial_id, e.epoch, e.batch, e.layer, e.nan_count, e.inf_count, event.time
        )

    def early(self, live: LiveTrial, event: EarlySeen) -> None:
        e = event.event
        self.store.add_early(live.trial_id, e.epoch, e.dead_index, e.dead_layer,
                             e.to_values(), event.time)  # fmt: skip

    def verdict(self, trial_id: int, verdict: Verdict, acted: bool, now: float) -> None:
        """A verdict came for ``trial_id`` (``acted``: the run acts on it)."""
        live = self.live.get(trial_id)
        if live is not None and is_problem(verdict):
            live.problem = True
        self.store.add_verdict(
            trial_id, verdict.epoch, verdict.indicator, verdict.rule, verdict.values,
            verdict.benign, acted, now,
        )  # fmt: skip

    def stopped_by(self, live: LiveTrial, verdict: Verdict) -> None:
        """``verdict`` is the one that stops ``live`` (the first acted on)."""
        self.store.set_verdict(live.trial_id, verdict.indicator, verdict.rule, verdict.epoch)
        live.indicator = verdict.indicator

    def rule_error(self, trial_id: int, rule: str, error: str, now: float) -> None:
        """``rule`` raised judging ``trial_id``: its first error on that trial is stored."""
        if (trial_id, rule) not in self._errors_stored:
            self._errors_stored.add((trial_id, rule))
            self.store.add_rule_error(trial_id, rule, error, now)

    def ended(
        self, trial_id: int, state: TrialState, reason: str | None, when: float
    ) -> EndedTrial | None:
        """Record the end of a running trial (None if it is not running: ended already)."""
        live = self.live.pop(trial_id, None)
        if live is None:
            return None
        # The store keeps both the last and the best value; the rule picks the one that counts,
        # the same for every trial whatever stopped it (NMG included).
        counted = self.count.pick(live.value, live.best_value)
        self.store.end_trial(trial_id, state, reason, when)
        self.ledger.record(
            trial_id, state, indicator=live.indicator, value=counted, params=live.params
        )
        value = "-" if counted is None else f"{counted:.4g}"
        detail = f" ({reason})" if reason else ""
        self.view.event(
            f"trial {trial_id} {state.value}{detail}: {self.objective}={value} "
            f"after {plural(live.epochs, 'epoch')}, {when - live.started:.1f}s"
        )
        return EndedTrial(live, state, reason, counted)
