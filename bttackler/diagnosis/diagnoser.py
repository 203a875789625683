"""Live diagnosis: every rule on its own thread, fed with trial histories.

The paper's two-level parallelism (section 3.3): the calculation is isolated from training
(trials only write records; the rules run in the main process), and each rule runs on its own
thread so a slow or failing one delays or breaks no other. An exception inside a rule is
kept in :attr:`Diagnoser.errors` (the scheduler warns of each rule's first one in the live
view, the log and the run's warnings, and stores the count); diagnosis goes on.

The diagnoser receives histories (:meth:`Diagnoser.epoch_reported`,
:meth:`Diagnoser.nonfinite_seen`, :meth:`Diagnoser.early_seen`) and trial ends
(:meth:`Diagnoser.trial_ended`); the run time translates its monitor's events into these
calls. The guard (:mod:`bttackler.diagnosis.guard`)
spares a trial among the best at its epoch count from the rules marked ``guarded``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bttackler.core.config import RunSettings
from bttackler.core.errors import BttacklerError
from bttackler.core.history import TrialHistory
from bttackler.core.verdict import Verdict
from bttackler.diagnosis.etr import build_etr
from bttackler.diagnosis.guard import Guard, GuardSettings, guard_settings
from bttackler.diagnosis.indicators import Indicator, build_indicators
from bttackler.diagnosis.rule import EtrRule, Rule

VerdictSink = Callable[[int, Verdict], None]


@dataclass(frozen=True)
class RuleError:
    """A rule raised judging a trial (its verdict there is lost; the other rules judged)."""

    rule: str
    trial_id: int
    error: str  # "ValueError: oops"

    def __str__(self) -> str:
        return f"{self.rule} on trial {self.trial_id}: {self.error}"


class FinishedTrials:
    """The comparison base of the ETR rules: the histories of the trials that ran to their end
    (:meth:`snapshot`, LCE and MSR), and of every trial so far, running and stopped ones
    included (:meth:`everyone`, ASHA and Hyperband)."""

    def __init__(self) -> None:
        self._latest: dict[int, TrialHistory] = {}
        self._finished: list[TrialHistory] = []
        self._stopped: list[TrialHistory] = []
        self._lock = threading.Lock()

    def update(self, history: TrialHistory) -> None:
        with self._lock:
            self._latest[history.trial_id] = history

    def ended(self, trial_id: int, completed: bool) -> None:
        with self._lock:
            history = self._latest.pop(trial_id, None)
            if history is not None:
                (self._finished if completed else self._stopped).append(history)

    def snapshot(self) -> list[TrialHistory]:
        with self._lock:
            return list(self._finished)

    def everyone(self) -> list[TrialHistory]:
        with self._lock:
            return [*self._finished, *self._stopped, *self._latest.values()]

    def cohort_of(self, rule: EtrRule) -> list[TrialHistory]:
        """The histories ``rule`` compares with (its ``cohort``)."""
        return self.everyone() if rule.cohort == "all" else self.snapshot()


class RuleAsIndicator:
    """Runs an early-termination rule (LCE, MSR, ASHA, Hyperband) as a :class:`Rule`: same
    threads, same verdicts, same kill path; it reads its cohort's histories on every check."""

    guarded = False

    def __init__(self, rule: EtrRule, finished: FinishedTrials) -> None:
        self.rule = rule
        self.short_name = rule.short_name
        self.finished = finished

    def check(self, history: TrialHistory) -> Verdict | None:
        verdict = self.rule.check(history, self.finished.cohort_of(self.rule))
        return None if verdict is None else verdict.at_epoch(history.current_epoch())


class Diagnoser:
    """Runs ``rules`` on every new epoch of every trial; reports the first positive verdict of
    each rule per trial through ``on_verdict``."""

    def __init__(
        self,
        rules: Sequence[Rule],
        on_verdict: VerdictSink,
        *,
        guard: GuardSettings | None = None,
        finished: FinishedTrials | None = None,
    ) -> None:
        self.rules = list(rules)
        self.finished = finished or FinishedTrials()
        self.on_verdict = on_verdict
        self.guard = Guard(guard)
        self.errors: list[RuleError] = []
        self.evaluations = 0
        self._fired: set[tuple[int, str]] = set()
        self._fired_lock = threading.Lock()
        self._queues: list[queue.Queue[tuple[int, TrialHistory] | None]] = []
        self._threads: list[threading.Thread] = []
        for rule in self.rules:
            q: queue.Queue[tuple[int, TrialHistory] | None] = queue.Queue()
            thread = threading.Thread(
                target=self._serve, args=(rule, q), name=f"rule-{rule.short_name}", daemon=True
            )
            self._queues.append(q)
            self._threads.append(thread)
            thread.start()

    def epoch_reported(self, history: TrialHistory) -> None:
        """A trial reported a new epoch: record it for the guard and the ETR base, then judge."""
        self.guard.record(history)
        self.finished.update(history)
        self._fan_out(history)

    def nonfinite_seen(self, history: TrialHistory) -> None:
        """A NaN/Inf was seen mid-epoch: judge the history with it."""
        self._fan_out(history)

    def early_seen(self, history: TrialHistory) -> None:
        """The probe's provisional record from inside epoch 1 arrived: judge the history with
        it (the LAR1 and PLC1 rules read it)."""
        self._fan_out(history)

    def trial_ended(self, trial_id: int, completed: bool) -> None:
        """A trial's process is gone; ``completed`` when it ran to its end, unkilled."""
        self.finished.ended(trial_id, completed)
        with self._fired_lock:
            self._fired = {key for key in self._fired if key[0] != trial_id}

    def _fan_out(self, history: TrialHistory) -> None:
        for q in self._queues:
            q.put((history.trial_id, history))

    def _serve(self, rule: Rule, q: queue.Queue[Any]) -> None:
        name = rule.short_name
        while True:
            item = q.get()
            if item is None:
                return
            trial_id, history = item
            with self._fired_lock:
                if (trial_id, name) in self._fired:
                    continue
            try:
                if rule.guarded and self.guard.protects(history):
                    continue
                verdict = rule.check(history)
                self.evaluations += 1
            except Exception as exc:  # contained: one broken rule never stops the others
                self.errors.append(RuleError(name, trial_id, f"{type(exc).__name__}: {exc}"))
                continue
            if verdict is None:
                continue
            with self._fired_lock:
                if (trial_id, name) in self._fired:
                    continue
                self._fired.add((trial_id, name))
            self.on_verdict(trial_id, verdict)

    def close(self) -> None:
        for q in self._queues:
            q.put(None)
        for thread in self._threads:
            thread.join(2.0)


def build_from_config(config: Mapping[str, Any], base_dir: Path | None = None) -> tuple[
    list[Indicator[Any]], GuardSettings
]:  # fmt: skip
    """Validate ``[indicators]`` and the guard keys of ``[diagnosis]`` (raises BttacklerError)."""
    table = config.get("indicators", {})
    if not isinstance(table, Mapping):
        raise BttacklerError("config: [indicators] must be a table")
    diagnosis = config.get("diagnosis", {})
    return build_indicators(table, base_dir=base_dir), guard_settings(diagnosis)


def build_etr_rule(config: Mapping[str, Any], name: str, *, objective: str, mode: str) -> EtrRule:
    """Validate ``[etr]`` and build the rule ``--etr name`` selects (raises BttacklerError)."""
    return build_etr(name, config.get("etr", {}), objective=objective, mode=mode)


def make_diagnoser_factory(
    config: Mapping[str, Any], settings: RunSettings, *, objective: str, mode: str
) -> Callable[[VerdictSink], Diagnoser] | None:
    """What the scheduler starts when a run starts.

    With tracing on, the indicators judge every epoch (their verdicts act only when diagnosis
    is enabled; otherwise they are recorded for replay). With ``--etr``, the rule runs beside
    them and its verdicts always act. None when there is nothing to judge.
    """
    rules: list[Rule] = []
    guard = GuardSettings()
    if settings.trace:
        indicators, guard = build_from_config(config)
        rules.extend(indicators)
    finished: FinishedTrials | None = None
    if settings.etr is not None:
        finished = FinishedTrials()
        rule = build_etr_rule(config, settings.etr, objective=objective, mode=mode)
        rules.append(RuleAsIndicator(rule, finished))
    if not rules:
        return None

    def factory(on_verdict: VerdictSink) -> Diagnoser:
        return Diagnoser(rules, on_verdict, guard=guard, finished=finished)

    return factory
