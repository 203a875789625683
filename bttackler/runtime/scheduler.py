"""The scheduler: asks the searcher for configurations, starts them on free slots, takes in
the monitor's events and the diagnosers' verdicts, and decides when the run stops (the budget,
``--max-trials``, an exhausted search, fail fast, Ctrl-C).

Its other jobs have their own homes: the slots' lifecycle is :mod:`.supervision`, every write
of a trial fact to the store is :mod:`.recorder`, the verdicts' way in is :mod:`.verdicts`,
warnings and errors said once are :mod:`.run_warnings`. Everything runs on the main thread;
rings are drained by the monitor thread and indicators run on the diagnosis threads.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bttackler.core.objective import CountRule
from bttackler.core.run_context import RunContext
from bttackler.core.store import Store, TrialRow
from bttackler.core.trial_state import TrialState
from bttackler.diagnosis import Diagnoser, VerdictSink
from bttackler.diagnosis.avoid import Avoider
from bttackler.diagnosis.coverage import blind_spots
from bttackler.diagnosis.etr import ETR_INDICATORS
from bttackler.runtime.backends.base import Backend
from bttackler.runtime.ledger import Ledger
from bttackler.runtime.monitor import (
    Assembler,
    EarlySeen,
    EpochReported,
    Event,
    Monitor,
    NonFiniteSeen,
    TrialExited,
    feed_diagnoser,
)
from bttackler.runtime.notices import FirstFailures, UnreadParams
from bttackler.runtime.recorder import EndedTrial, LiveTrial, TrialRecorder
from bttackler.runtime.run_warnings import ErrorReport, RunWarnings
from bttackler.runtime.searchers.base import Searcher, SearchExhausted
from bttackler.runtime.snapshot import RunCounts, RunResult, RunSnapshot, View
from bttackler.runtime.supervision import SlotLoss, SlotSupervisor, exit_outcome, loss_outcome
from bttackler.runtime.verdicts import VerdictInbox, acts
from bttackler.runtime.worker import SlotSpec, TrialOrder


@dataclass(frozen=True, kw_only=True)
class SchedulerSettings:
    budget_seconds: float
    max_trials: int | None
    trial_timeout: float | None
    kill_grace: float
    seed: int
    context: RunContext  # the task's objective, direction, planned epochs and chance loss
    diagnosis: bool  # do indicator verdicts terminate trials?
    fail_fast: int = 3  # stop when this many first trials all failed (0: never)
    always_acting: frozenset[str] = ETR_INDICATORS  # ETR verdicts act even without diagnosis
    count: CountRule = CountRule.LAST  # the value told to the searcher and ranked for the best
    ready_timeout: float = 300.0


class Scheduler:
    def __init__(
        self,
        *,
        settings: SchedulerSettings,
        backend: Backend,
        slot_specs: list[SlotSpec],
        searcher: Searcher,
        store: Store,
        run_dir: Path,
        view: View,
        clock_offset: float = 0.0,
        ledger: Ledger | None = None,
        retries: list[TrialRow] | None = None,
        diagnoser_factory: Callable[[VerdictSink], Diagnoser] | None = None,
        avoider: Avoider | None = None,
    ) -> None:
        """``ledger``: a resumed run's (``Ledger.from_rows``); ``retries``: interrupted trials,
        run again first; ``avoider``: ``--avoid-bad``'s model of trouble."""
        self.settings = settings
        self.searcher = searcher
        self.store = store
        self.run_dir = run_dir
        self.view = view
        self.clock_offset = clock_offset
        # (params, id of the trial it re-runs)
        self.retries: list[tuple[dict[str, Any], int]] = [(r.params, r.id) for r in retries or []]
        context = settings.context
        self.ledger = ledger or Ledger(context.mode)
        self.avoider = avoider
        self.records = TrialRecorder(store, self.ledger, view, objective=context.objective,
                                     mode=context.mode, count=settings.count)  # fmt: skip
        self.warnings = RunWarnings(view, store)
        self._errors = ErrorReport(self.warnings, self.records)
        self.slots = SlotSupervisor(
            backend, slot_specs, kill_grace=settings.kill_grace,
            trial_timeout=settings.trial_timeout, ready_timeout=settings.ready_timeout,
            warn=self.warnings.warn,
        )  # fmt: skip
        self.verdicts = VerdictInbox()
        self._diagnoser_factory = diagnoser_factory
        self._diagnoser: Diagnoser | None = None
        self.monitor: Monitor | None = None
        self._interrupted = False
        self._stop_reason: str | None = None
        self._exhausted: str | None = None  # why the searcher has nothing left to ask
        self.failure: str | None = None  # why the run failed (every trial failed), for the CLI
        self._first_failures = FirstFailures(settings.fail_fast, run_dir / "trials")
        self._unread = UnreadParams()
        self._warned_blind = False
        self._t0 = time.monotonic()
        self._ended_at: float | None = None

    @property
    def counts(self) -> RunCounts:
        return self.ledger.counts

    # ------------------------------------------------------------------ clock
    def now(self) -> float:
        """Seconds since the run started (continues across resumes); frozen once it ended."""
        if self._ended_at is not None:
            return self._ended_at
        return self.clock_offset + (time.monotonic() - self._t0)

    def _wall_to_run(self, wall: float) -> float:
        return self.now() - max(0.0, time.time() - wall)

    # ------------------------------------------------------------------ lifecycle
    def run(self) -> RunResult:
        """Run until the budget or --max-trials is used up, the search is exhausted, the task
        looks broken, or Ctrl-C."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        (self.run_dir / "trials").mkdir(exist_ok=True)
        try:
            self.slots.start(interrupted=lambda: self._interrupted)
            self.store.set_meta(backend=self.slots.backend.name, slot_nodes=self.slots.nodes())
            assemblers = [Assembler(i, self._wall_to_run) for i in range(len(self.slots.slots))]
            if self._diagnoser_factory is not None:
                self._diagnoser = self._diagnoser_factory(self.verdicts.put)
            self.monitor = Monitor(
                self.slots.backend.sources,
                assemblers,
                on_event=None if self._diagnoser is None else feed_diagnoser(self._diagnoser),
            )
            self._t0 = time.monotonic()
            self.store.begin_session(self.clock_offset)
            self.store.commit()
            self.monitor.start()
            outcome = self._loop(self.monitor)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._shutdown()
        return RunResult(outcome, self.snapshot(), tuple(self.warnings.lines), self.failure)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._interrupted = True
        self._stop_reason = "interrupted by user" if signum == signal.SIGINT else "run terminated"

    def _shutdown(self) -> None:
        if self._diagnoser is not None:
            with contextlib.suppress(Exception):
                self._diagnoser.close()
        if self.monitor is not None:
            self.monitor.stop()
        self.slots.close()

    # ------------------------------------------------------------------ main loop
    def _loop(self, monitor: Monitor) -> str:
        last_view = last_beat = 0.0
        stop_deadline: float | None = None
        while True:
            self._take_events(monitor, timeout=0.02)
            self._take_verdicts()
            now = self.now()
            for loss in self.slots.check(now, drain=lambda: self._take_events(monitor, 0)):
                self._lost(loss, now)
            if self._stop_reason is None:
                self._stop_reason = self._why_stop(now)
            if self._stop_reason is not None:
                if stop_deadline is None:
                    stop_deadline = time.monotonic() + self.settings.kill_grace + 5.0
                    self.view.event(f"stopping: {self._stop_reason}")
                    self.slots.kill_all(TrialState.STOPPED, self._stop_reason, now)
                if not self.records.live or time.monotonic() > stop_deadline:
                    break
            else:
                self._fill_slots(now)
            if now - last_beat >= 1.0:
                self.store.set_meta(elapsed=now)
                self._report_errors(monitor)
                last_beat = now
            self.store.commit()
            if now - last_view >= 0.25:
                self.view.update(self.snapshot())
                last_view = now
        return self._finish(monitor)

    def _why_stop(self, now: float) -> str | None:
        if now >= self.settings.budget_seconds:
            return "budget exhausted"
        if self._max_trials_reached() and not self.records.live:
            return "max trials reached"
        if self._exhausted is not None and not self.records.live and not self.retries:
            return f"search exhausted: {self._exhausted}"
        return None

    def _finish(self, monitor: Monitor) -> str:
        self._report_errors(monitor)
        unread = self._unread.warning()
        if unread:
            self.warnings.warn(unread)
        # Trials that never reported their end (a wedged worker) are recorded as stopped.
        for trial_id in list(self.records.live):
            self._end(trial_id, TrialState.STOPPED, self._stop_reason, self.now())
        self._ended_at = self.now()
        self.store.set_meta(
            elapsed=self.now(), lost_records=monitor.lost, record_lag=monitor.lag_summary()
        )
        if self.failure is None and self.counts.failed and not self._succeeded():
            self.failure = self._first_failures.summary("every trial failed")
        if self._interrupted:
            outcome = "interrupted"
        else:
            outcome = "failed" if self.failure is not None else "completed"
        self.store.end_session(outcome)
        self.store.commit()
        self.view.update(self.snapshot())
        return outcome

    def _max_trials_reached(self) -> bool:
        limit = self.settings.max_trials
        return limit is not None and self.counts.ended >= limit

    def _fill_slots(self, now: float) -> None:
        s = self.settings
        for slot in self.slots.free():
            if s.max_trials is not None and self.counts.ended + len(self.records.live) >= (
                s.max_trials
            ):
                return
            retry_of: int | None = None
            if self.retries:
                params, retry_of = self.retries.pop(0)
            elif self._exhausted is not None:
                return
            else:
                try:
                    params = self._ask(now)
                except SearchExhausted as exc:
                    self._exhausted = str(exc)
                    return
                except Exception as exc:  # a library failure ends the search, not the run
                    self._stop_reason = f"the HPO method failed: {type(exc).__name__}: {exc}"
                    self.view.event(self._stop_reason)
                    return
            live = self.records.started(params, slot.index, now, retry_of=retry_of)
            assert self.monitor is not None
            self.monitor.expect(
                slot.index,
                live.trial_id,
                dict(params),
                s.context.max_epochs,
                chance_loss=s.context.chance_loss,
            )
            order = TrialOrder(
                trial_id=live.trial_id,
                params=dict(params),
                seed=(s.seed * 100_003 + live.trial_id) % (2**31),
                log_path=str(self.run_dir / "trials" / f"{live.trial_id}.log"),
            )
            slot.start(order, now)

    def _ask(self, now: float) -> dict[str, Any]:
        """The searcher's next configuration that ``--avoid-bad`` lets run; each one it skips
        is recorded (state ``skipped``, with why) and told to the searcher as a failed trial.
        The Avoider lets one through after ``max_skips`` in a row."""
        while True:
            params = self.searcher.ask()
            skip = None if self.avoider is None else self.avoider.judge(params)
            if skip is None:
                return params
            self.records.skipped(params, skip.reason(), now)
            self.searcher.tell(params, None)

    def _lost(self, loss: SlotLoss, now: float) -> None:
        """A trial whose slot was lost. A lost Ray node interrupts it: it runs again once
        (lost twice, it failed)."""
        live = self.records.live.get(loss.trial_id)
        if live is None:
            return
        state, reason, again = loss_outcome(loss, rerun=live.retry_of is not None)
        if again:
            self.retries.append((live.params, live.trial_id))
        self._end(loss.trial_id, state, reason, now)

    # ------------------------------------------------------------------ events
    def _take_events(self, monitor: Monitor, timeout: float) -> None:
        try:
            event: Event = monitor.events.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            self._apply(event)
            try:
                event = monitor.events.get_nowait()
            except queue.Empty:
                return

    def _apply(self, event: Event) -> None:
        live = self.records.live.get(event.trial_id)
        if live is None:
            return
        if isinstance(event, EpochReported):
            self.records.epoch(live, event)
            self.slots.at_epoch(live.slot, live.trial_id, live.epochs)  # counted from 1
        elif isinstance(event, NonFiniteSeen):
            self.records.nonfinite(live, event)
        elif isinstance(event, EarlySeen):
            self.records.early(live, event)
        elif isinstance(event, TrialExited):
            self._on_exit(live, event)

    def _on_exit(self, live: LiveTrial, event: TrialExited) -> None:
        if event.exit_code == 0 and not event.kill_requested:
            unread = self._unread.completed_trial(event.note)
            if unread:
                self.warnings.warn(unread)
        kill_reason = self.slots.release(event.slot, live.trial_id)
        state, reason = exit_outcome(
            event, kill_reason, objective=self.settings.context.objective, reported=live.reported,
            has_value=live.value is not None,
        )  # fmt: skip
        self._end(live.trial_id, state, reason, event.time)

    def _end(self, trial_id: int, state: TrialState, reason: str | None, when: float) -> None:
        ended = self.records.ended(trial_id, state, reason, when)
        if ended is None:
            return
        if ended.tells:
            self.searcher.tell(ended.live.params, ended.told)
            if self.avoider is not None:
                self.avoider.observe(ended.live.params, ended.bad)
        self._watch_for_a_broken_task(trial_id, state, reason)
        if ended.live.epochs and not self._warned_blind:
            self._warned_blind = True
            self._warn_if_diagnosis_is_blind(ended)

    def _watch_for_a_broken_task(
        self, trial_id: int, state: TrialState, reason: str | None
    ) -> None:
        """Fail fast: when the first ``fail_fast`` trials all failed, the task is broken and
        every further trial would burn budget the same way: stop the run."""
        if state is not TrialState.FAILED or self._succeeded():
            return
        failure = self._first_failures.failed(trial_id, reason)
        if failure is not None:
            self.failure = failure
            if self._stop_reason is None:
                self._stop_reason = "the task looks broken: its first trials all failed"
            self.view.event(self.failure)

    def _warn_if_diagnosis_is_blind(self, ended: EndedTrial) -> None:
        """Once per run, at the end of the first trial that reported an epoch: say which
        indicators the task leaves with nothing to judge (no trial.watch, no train_loss)."""
        if self._diagnoser is None:
            return
        enabled = [rule.short_name for rule in self._diagnoser.rules]
        live = ended.live
        for text in blind_spots(enabled, saw_layer_stats=live.layer_stats,
                                reported=live.reported):  # fmt: skip
            self.warnings.warn(text)

    def _report_errors(self, monitor: Monitor) -> None:
        rule_errors = list(self._diagnoser.errors) if self._diagnoser is not None else []
        self._errors.report(rule_errors, list(monitor.errors), self.now())

    def _succeeded(self) -> bool:
        """Whether any trial of the run (resumed ones included) ran or was judged to a value."""
        return self.counts.finished + self.counts.terminated > 0

    # ------------------------------------------------------------------ verdicts
    def _take_verdicts(self) -> None:
        s = self.settings
        for trial_id, verdict in self.verdicts.take():
            live = self.records.live.get(trial_id)
            acted = live is not None and acts(
                verdict, diagnosis=s.diagnosis, always_acting=s.always_acting
            )
            now = self.now()
            self.records.verdict(trial_id, verdict, acted, now)
            if live is None or not acted:
                continue
            reason = f"{verdict.indicator}: {verdict.rule}"
            if self.slots.kill(live.slot, trial_id, TrialState.TERMINATED, reason, now):
                self.records.stopped_by(live, verdict)

    # ------------------------------------------------------------------ view
    def snapshot(self) -> RunSnapshot:
        best = self.ledger.best
        return RunSnapshot(
            elapsed=self.now(),
            budget=self.settings.budget_seconds,
            counts=self.counts,
            running=len(self.records.live),
            best_value=None if best is None else best[0],
            best_params=None if best is None else best[2],
            best_trial=None if best is None else best[1],
            slots=self.slots.views(),
            lost_records=0 if self.monitor is None else self.monitor.lost,
            mode=self.settings.context.mode,
            max_trials=self.settings.max_trials,
        )
