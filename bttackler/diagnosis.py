"""Live diagnosis: every quality indicator on its own thread, fed by the monitor.

The paper's two-level parallelism (section 3.3): the calculation is isolated from training
(trials only write records; the indicators run in the main process), and each indicator runs
on its own thread so a slow or failing one delays or breaks no other. An exception inside an
indicator is counted and logged in :attr:`Diagnoser.errors`; the monitor goes on.

The guard (on by default, as in the authors' code) spares a trial whose training loss at its
current epoch count is among the best ``top_fraction`` of the trials that reached that count,
once ``min_trials`` did. It applies to the indicators marked ``guarded``.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bttackler.config import RunSettings
from bttackler.errors import BttacklerError
from bttackler.history import TrialHistory
from bttackler.indicators import Indicator, build_indicators, is_protected
from bttackler.monitor import EpochReported, Event, NonFiniteSeen, TrialExited
from bttackler.verdict import Verdict

VerdictSink = Callable[[int, Verdict], None]


@dataclass(frozen=True, kw_only=True)
class GuardSettings:
    enabled: bool = True
    top_fraction: float = 0.1
    min_trials: int = 10
    loss_metric: str = "train_loss"


def guard_settings(diagnosis: Mapping[str, Any]) -> GuardSettings:
    enabled = diagnosis.get("guard", True)
    top = diagnosis.get("guard_top_fraction", 0.1)
    minimum = diagnosis.get("guard_min_trials", 10)
    if not isinstance(enabled, bool):
        raise BttacklerError(f"config: diagnosis.guard must be true or false, got {enabled!r}")
    if isinstance(top, bool) or not isinstance(top, int | float) or not 0 < top <= 1:
        raise BttacklerError(f"config: diagnosis.guard_top_fraction must be in (0, 1], got {top!r}")
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
        raise BttacklerError(f"config: diagnosis.guard_min_trials must be >= 1, got {minimum!r}")
    return GuardSettings(enabled=enabled, top_fraction=float(top), min_trials=minimum)


class Cohort:
    """Training loss of every trial at every epoch count, for the guard (thread-safe)."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self._losses: dict[int, dict[int, float]] = {}
        self._lock = threading.Lock()

    def record(self, history: TrialHistory) -> None:
        if not history.epochs:
            return
        loss = float(history.epochs[-1].metrics.get(self.metric, math.nan))
        with self._lock:
            self._losses.setdefault(len(history.epochs), {})[history.trial_id] = loss

    def losses_at(self, count: int) -> list[float]:
        with self._lock:
            return list(self._losses.get(count, {}).values())


class FinishedTrials:
    """Histories of trials that ran to their end: the comparison base of the ETR rules."""

    def __init__(self) -> None:
        self._latest: dict[int, TrialHistory] = {}
        self._finished: list[TrialHistory] = []
        self._lock = threading.Lock()

    def update(self, history: TrialHistory) -> None:
        with self._lock:
            self._latest[history.trial_id] = history

    def ended(self, trial_id: int, completed: bool) -> None:
        with self._lock:
            history = self._latest.pop(trial_id, None)
            if completed and history is not None:
                self._finished.append(history)

    def snapshot(self) -> list[TrialHistory]:
        with self._lock:
            return list(self._finished)


class RuleAsIndicator:
    """Runs an early-termination rule (LCE, MSR) in the indicators' machinery: same threads,
    same verdicts, same kill path; it reads the finished trials' histories on every check."""

    stage = "any"
    guarded = False

    def __init__(self, rule: Any, finished: FinishedTrials) -> None:
        self.rule = rule
        self.short_name = rule.short_name
        self.finished = finished

    def check(self, history: TrialHistory) -> Verdict | None:
        verdict: Verdict | None = self.rule.check(history, self.finished.snapshot())
        return verdict


class Diagnoser:
    """Runs ``indicators`` on every new epoch of every trial; reports the first positive
    verdict of each indicator per trial through ``on_verdict``."""

    def __init__(
        self,
        indicators: Sequence[Indicator[Any]],
        on_verdict: VerdictSink,
        *,
        guard: GuardSettings | None = None,
        finished: FinishedTrials | None = None,
    ) -> None:
        self.indicators = list(indicators)
        self.finished = finished or FinishedTrials()
        self.on_verdict = on_verdict
        self.guard = guard or GuardSettings()
        self.cohort = Cohort(self.guard.loss_metric)
        self.errors: list[str] = []
        self.evaluations = 0
        self._fired: set[tuple[int, str]] = set()
        self._fired_lock = threading.Lock()
        self._queues: list[queue.Queue[tuple[int, TrialHistory] | None]] = []
        self._threads: list[threading.Thread] = []
        for indicator in self.indicators:
            q: queue.Queue[tuple[int, TrialHistory] | None] = queue.Queue()
            thread = threading.Thread(
                target=self._serve,
                args=(indicator, q),
                name=f"indicator-{indicator.short_name}",
                daemon=True,
            )
            self._queues.append(q)
            self._threads.append(thread)
            thread.start()

    def on_event(self, event: Event) -> None:
        """Monitor-thread hook: fan a new history out to every indicator thread."""
        if isinstance(event, EpochReported):
            self.cohort.record(event.history)
            self.finished.update(event.history)
            history = event.history
        elif isinstance(event, NonFiniteSeen):
            history = event.history
        elif isinstance(event, TrialExited):
            completed = event.exit_code == 0 and not event.kill_requested
            self.finished.ended(event.trial_id, completed)
            with self._fired_lock:
                self._fired = {key for key in self._fired if key[0] != event.trial_id}
            return
        else:
            return
        for q in self._queues:
            q.put((event.trial_id, history))

    def _serve(self, indicator: Indicator[Any], q: queue.Queue[Any]) -> None:
        name = indicator.short_name
        while True:
            item = q.get()
            if item is None:
                return
            trial_id, history = item
            with self._fired_lock:
                if (trial_id, name) in self._fired:
                    continue
            try:
                if getattr(indicator, "guarded", False) and self.protected(history):
                    continue
                verdict = indicator.check(history)
                self.evaluations += 1
            except Exception as exc:  # contained: one broken indicator never stops the others
                self.errors.append(f"{name} on trial {trial_id}: {type(exc).__name__}: {exc}")
                continue
            if verdict is None:
                continue
            with self._fired_lock:
                if (trial_id, name) in self._fired:
                    continue
                self._fired.add((trial_id, name))
            self.on_verdict(trial_id, verdict)

    def protected(self, history: TrialHistory) -> bool:
        if not self.guard.enabled or not history.epochs:
            return False
        loss = float(history.epochs[-1].metrics.get(self.guard.loss_metric, math.nan))
        return is_protected(
            loss,
            self.cohort.losses_at(len(history.epochs)),
            top_fraction=self.guard.top_fraction,
            min_trials=self.guard.min_trials,
        )

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


def build_etr_rule(config: Mapping[str, Any], name: str, *, objective: str, mode: str) -> Any:
    """Validate ``[etr]`` and build the rule ``--etr name`` selects (raises BttacklerError)."""
    from bttackler.etr import build_etr

    return build_etr(name, config.get("etr", {}), objective=objective, mode=mode)


def make_diagnoser_factory(
    config: Mapping[str, Any], settings: RunSettings, *, objective: str, mode: str
) -> Callable[[VerdictSink], Diagnoser] | None:
    """What the scheduler attaches to the monitor.

    With tracing on, the indicators judge every epoch (their verdicts act only when diagnosis
    is enabled; otherwise they are recorded for replay). With ``--etr``, the rule runs beside
    them and its verdicts always act. None when there is nothing to judge.
    """
    indicators: list[Any] = []
    guard = GuardSettings()
    if settings.trace:
        indicators, guard = build_from_config(config)
    if settings.etr is not None:
        finished = FinishedTrials()
        rule = build_etr_rule(config, settings.etr, objective=objective, mode=mode)
        indicators = [*indicators, RuleAsIndicator(rule, finished)]
    else:
        finished = None
    if not indicators:
        return None

    def factory(on_verdict: VerdictSink) -> Diagnoser:
        return Diagnoser(indicators, on_verdict, guard=guard, finished=finished)

    return factory
