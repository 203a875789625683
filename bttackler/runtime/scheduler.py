"""The scheduler: asks the searcher for configurations, runs them on worker slots, turns
monitor events into trial records, and stops trials (verdicts, timeouts, the budget's end).

It is the only writer of the store. Everything runs on the main thread; rings are drained by
the monitor thread and indicators run on the diagnosis threads.
"""

from __future__ import annotations

import contextlib
import math
import queue
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bttackler.core.errors import BttacklerError
from bttackler.core.objective import CountRule, is_better
from bttackler.core.store import Store, TrialRow, TrialState
from bttackler.core.verdict import Verdict, plural
from bttackler.diagnosis import Diagnoser, VerdictSink
from bttackler.diagnosis.avoid import Avoider, is_problem
from bttackler.diagnosis.coverage import blind_spots
from bttackler.diagnosis.etr import ETR_INDICATORS
from bttackler.runtime.backends.base import Backend, SlotHandle
from bttackler.runtime.backends.local import LocalBackend
from bttackler.runtime.ledger import Ledger
from bttackler.runtime.monitor import (
    Assembler,
    EarlySeen,
    EpochReported,
    Event,
    Monitor,
    NonFiniteSeen,
    TrialExited,
    TrialStarted,
    feed_diagnoser,
)
from bttackler.runtime.notices import FirstFailures, UnreadParams
from bttackler.runtime.searchers.base import Searcher, SearchExhausted
from bttackler.runtime.snapshot import RunCounts, RunSnapshot, SlotView, View
from bttackler.runtime.worker import SlotSpec, TrialOrder

_SIGNAL_HINTS = {
    signal.SIGKILL: "killed by SIGKILL (out of memory? the kernel's OOM killer sends it)",
    signal.SIGSEGV: "crashed with SIGSEGV (segmentation fault)",
    signal.SIGABRT: "aborted (SIGABRT)",
    signal.SIGBUS: "crashed with SIGBUS",
    signal.SIGFPE: "crashed with SIGFPE",
}


KILL_CONFIRM = 5.0  # seconds after SIGKILL by which a killed trial's end must have arrived
SLOT_WAIT_WARNING = 60.0  # seconds a replaced slot may wait for its worker before a warning


@dataclass(frozen=True, kw_only=True)
class SchedulerSettings:
    budget_seconds: float
    max_trials: int | None
    trial_timeout: float | None
    kill_grace: float
    seed: int
    objective: str
    mode: str
    max_epochs: int
    diagnosis: bool  # do indicator verdicts terminate trials?
    ring_capacity: int
    chance_loss: float = math.nan  # the task's CHANCE_LOSS, for the indicators
    fail_fast: int = 3  # stop when this many first trials all failed (0: never)
    always_acting: frozenset[str] = ETR_INDICATORS  # ETR verdicts act even without diagnosis
    count: CountRule = CountRule.LAST  # the value told to the searcher and ranked for the best
    ready_timeout: float = 300.0


@dataclass
class LiveTrial:
    """What the scheduler tracks of a running trial."""

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


class Scheduler:
    def __init__(
        self,
        *,
        settings: SchedulerSettings,
        slot_specs: list[SlotSpec],
        searcher: Searcher,
        store: Store,
        run_dir: Path,
        view: View,
        clock_offset: float = 0.0,
        retries: list[TrialRow] | None = None,
        diagnoser_factory: Callable[[VerdictSink], Diagnoser] | None = None,
        backend: Backend | None = None,
        avoider: Avoider | None = None,
    ) -> None:
        self.s = settings
        self.searcher = searcher
        self.store = store
        self.run_dir = run_dir
        self.view = view
        self.clock_offset = clock_offset
        # (params, id of the trial it re-runs): interrupted trials, run again first
        self.retries: list[tuple[dict[str, Any], int]] = [(r.params, r.id) for r in retries or []]
        self.ledger = Ledger(settings.mode)
        self.live: dict[int, LiveTrial] = {}
        self._slot_specs = slot_specs
        self.backend: Backend = backend or LocalBackend(settings.ring_capacity)
        self._slots: list[SlotHandle] = []
        self._verdicts: queue.Queue[tuple[int, Verdict]] = queue.Queue()
        self._diagnoser_factory = diagnoser_factory
        self._diagnoser: Diagnoser | None = None
        self._errors_seen = 0  # diagnoser and monitor errors reported so far
        self._error_sources: set[str] = set()
        self._rule_errors_seen = 0  # the diagnoser's errors already stored per trial
        self._errors_stored: set[tuple[int, str]] = set()
        self._interrupted = False
        self._stop_reason: str | None = None
        self._exhausted: str | None = None  # why the searcher has nothing left to ask
        self.avoider = avoider  # --avoid-bad: the model of trouble, asked before each start
        self.failure: str | None = None  # why the run failed (every trial failed), for the CLI
        self._first_failures = FirstFailures(settings.fail_fast, run_dir / "trials")
        self.warnings: list[str] = []  # said once per run: live view, log, summary, store
        self._unread = UnreadParams()
        self._warned_blind = False
        self._warned_waiting = False
        self._t0 = time.monotonic()
        self._ended_at: float | None = None
        self.outcome = "completed"

    @property
    def counts(self) -> RunCounts:
        return self.ledger.counts

    @property
    def best(self) -> tuple[float, int, dict[str, Any]] | None:
        return self.ledger.best

    # ------------------------------------------------------------------ clock
    def now(self) -> float:
        """Seconds since the run started (continues across resumes); frozen once it ended."""
        if self._ended_at is not None:
            return self._ended_at
        return self.clock_offset + (time.monotonic() - self._t0)

    def _wall_to_run(self, wall: float) -> float:
        return self.now() - max(0.0, time.time() - wall)

    # ------------------------------------------------------------------ lifecycle
    def run(self) -> str:
        """Run until the budget or --max-trials is used up, or Ctrl-C. Returns the outcome:
        ``completed`` or ``interrupted``."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        (self.run_dir / "trials").mkdir(exist_ok=True)
        monitor: Monitor | None = None
        try:
            self._slots = self.backend.start(self._slot_specs)
            self._wait_ready()
            self.store.set_meta(
                backend=self.backend.name, slot_nodes={s.index: s.node for s in self._slots}
            )
            readers = self.backend.sources
            assemblers = [Assembler(i, self._wall_to_run) for i in range(len(self._slots))]
            if self._diagnoser_factory is not None:
                self._diagnoser = self._diagnoser_factory(self._on_verdict)
            monitor = Monitor(
                readers,
                assemblers,
                on_event=None if self._diagnoser is None else feed_diagnoser(self._diagnoser),
            )
            self.monitor = monitor
            self._t0 = time.monotonic()
            self.store.begin_session(self.clock_offset)
            self.store.commit()
            monitor.start()
            self._loop(monitor)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._shutdown(monitor)
        return self.outcome

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._interrupted = True
        self._stop_reason = "interrupted by user" if signum == signal.SIGINT else "run terminated"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.s.ready_timeout
        while not all(slot.ready for slot in self._slots):
            if self._interrupted:
                raise KeyboardInterrupt
            for slot in self._slots:
                error = slot.poll_ready()
                if error:
                    raise BttacklerError(f"worker slot {slot.index} could not start: {error}")
                if not slot.ready and not slot.alive():
                    raise BttacklerError(f"worker slot {slot.index} exited while starting")
            if time.monotonic() > deadline:
                waiting = [
                    f"slot {slot.index} {self.backend.waiting(slot) or 'still starting'}"
                    for slot in self._slots
                    if not slot.ready
                ]
                raise BttacklerError(f"worker slots did not start in time: {'; '.join(waiting)}")
            time.sleep(0.02)

    def _shutdown(self, monitor: Monitor | None) -> None:
        if self._diagnoser is not None:
            with contextlib.suppress(Exception):
                self._diagnoser.close()
        if monitor is not None:
            monitor.stop()
        self.backend.close(self._slots)

    # ------------------------------------------------------------------ main loop
    def _loop(self, monitor: Monitor) -> None:
        last_view = last_beat = 0.0
        stop_deadline: float | None = None
        while True:
            self._handle_events(monitor, timeout=0.02)
            self._handle_verdicts()
            now = self.now()
            self._check_slots(now)
            if self._stop_reason is None:
                if now >= self.s.budget_seconds:
                    self._stop_reason = "budget exhausted"
                elif self._max_trials_reached() and not self.live:
                    self._stop_reason = "max trials reached"
                elif self._exhausted is not None and not self.live and not self.retries:
                    self._stop_reason = f"search exhausted: {self._exhausted}"
            if self._stop_reason is not None:
                if stop_deadline is None:
                    stop_deadline = time.monotonic() + self.s.kill_grace + 5.0
                    self.view.event(f"stopping: {self._stop_reason}")
                    state = TrialState.STOPPED
                    for slot in self._slots:
                        slot.kill(state, self._stop_reason, now, self.s.kill_grace)
                if not self.live or time.monotonic() > stop_deadline:
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
        self._report_errors(monitor)
        unread = self._unread.warning()
        if unread:
            self._warn(unread)
        # Trials that never reported their end (a wedged worker) are recorded as stopped.
        for trial_id in list(self.live):
            self._end(trial_id, TrialState.STOPPED, self._stop_reason, self.now())
        self._ended_at = self.now()
        self.store.set_meta(
            elapsed=self.now(), lost_records=monitor.lost, record_lag=monitor.lag_summary()
        )
        if self.failure is None and self.counts.failed and not self._succeeded():
            self.failure = self._first_failures.summary("every trial failed")
        if self._interrupted:
            self.outcome = "interrupted"
        else:
            self.outcome = "failed" if self.failure is not None else "completed"
        self.store.end_session(self.outcome)
        self.store.commit()
        self.view.update(self.snapshot())

    def _max_trials_reached(self) -> bool:
        return self.s.max_trials is not None and self.counts.ended >= self.s.max_trials

    def _fill_slots(self, now: float) -> None:
        for slot in self._slots:
            if slot.busy or not slot.ready:
                continue
            if self.s.max_trials is not None and (
                self.counts.ended + len(self.live) >= self.s.max_trials
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
            trial_id = self.store.add_trial(params, slot.index, now, retry_of=retry_of)
            self.live[trial_id] = LiveTrial(
                trial_id, dict(params), slot.index, now, retry_of=retry_of
            )
            self.monitor.expect(
                slot.index,
                trial_id,
                dict(params),
                self.s.max_epochs,
                chance_loss=self.s.chance_loss,
            )
            order = TrialOrder(
                trial_id=trial_id,
                params=dict(params),
                seed=(self.s.seed * 100_003 + trial_id) % (2**31),
                log_path=str(self.run_dir / "trials" / f"{trial_id}.log"),
            )
            slot.start(order, now)

    def _ask(self, now: float) -> dict[str, Any]:
        """The searcher's next configuration that ``--avoid-bad`` lets run; each one it skips
        is stored (state ``skipped``, with why), told to the searcher as a failed trial, and
        said in the live view. The Avoider lets one through after ``max_skips`` in a row."""
        while True:
            params = self.searcher.ask()
            skip = None if self.avoider is None else self.avoider.judge(params)
            if skip is None:
                return params
            trial_id = self.store.add_skipped(params, skip.reason(), now)
            self.ledger.record(trial_id, TrialState.SKIPPED, indicator=None, value=None,
                               params=params)  # fmt: skip
            self.searcher.tell(params, None)
            self.view.event(f"trial {trial_id} skipped ({skip.reason()})")

    def _check_slots(self, now: float) -> None:
        for slot in list(self._slots):
            if not slot.ready:
                error = slot.poll_ready()  # a replacement worker saying hello
                if error:
                    raise BttacklerError(f"worker slot {slot.index} could not restart: {error}")
                self._warn_if_waiting(slot)
                continue
            if not slot.alive():  # the worker itself died (not just a trial it ran)
                self._handle_events(self.monitor, timeout=0)  # its last trial's end, if sent
                if slot.trial_id is not None:
                    self._end_with_slot(slot, *self._slot_death(slot), now)
                self._replace_slot(slot)
                continue
            if slot.trial_id is None:
                continue
            if (
                slot.kill_requested_at is not None
                and slot.kill_reason is not None
                and now - slot.kill_requested_at > self.s.kill_grace + KILL_CONFIRM
            ):  # killed, but its end never reported (a lost worker or node): record the kill
                self._end_with_slot(slot, *slot.kill_reason, now)
                self._replace_slot(slot)
                continue
            if (
                self.s.trial_timeout is not None
                and slot.started_at is not None
                and now - slot.started_at > self.s.trial_timeout
            ):
                reason = f"timed out after {self.s.trial_timeout:g} s"
                slot.kill(TrialState.FAILED, reason, now, self.s.kill_grace)

    def _slot_death(self, slot: SlotHandle) -> tuple[TrialState, str]:
        """How the trial of a dead slot ended: as it was being stopped, if it was; else as
        the backend says (a lost Ray node: interrupted, and run again once)."""
        if slot.kill_reason is not None:
            return slot.kill_reason
        state, reason = slot.death()
        live = self.live.get(slot.trial_id) if slot.trial_id is not None else None
        if state is TrialState.INTERRUPTED and live is not None:
            if live.retry_of is not None:  # lost twice: not run a third time
                return TrialState.FAILED, f"{reason}; it was a re-run already"
            self.retries.append((live.params, live.trial_id))
        return state, reason

    def _end_with_slot(self, slot: SlotHandle, state: TrialState, reason: str, now: float) -> None:
        if slot.trial_id is not None:
            self._end(slot.trial_id, state, reason, now)
        slot.finish()

    def _warn_if_waiting(self, slot: SlotHandle) -> None:
        """Once per run: a slot that has waited a minute for its worker (a Ray actor the
        cluster has no room for) is said, not left silent."""
        if self._warned_waiting or time.monotonic() - slot.created < SLOT_WAIT_WARNING:
            return
        self._warned_waiting = True
        self._warn(f"slot {slot.index} {self.backend.waiting(slot) or 'is still starting'}")

    def _replace_slot(self, slot: SlotHandle) -> None:
        self._slots[self._slots.index(slot)] = self.backend.replace(slot)

    # ------------------------------------------------------------------ events
    def _handle_events(self, monitor: Monitor, timeout: float) -> None:
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
        live = self.live.get(event.trial_id)
        if live is None:
            return
        if isinstance(event, EpochReported):
            self._on_epoch(live, event)
        elif isinstance(event, NonFiniteSeen):
            e = event.event
            self.store.add_nonfinite(
                live.trial_id, e.epoch, e.batch, e.layer, e.nan_count, e.inf_count, event.time
            )
        elif isinstance(event, EarlySeen):
            early = event.event
            self.store.add_early(live.trial_id, early.epoch, early.dead_index, early.dead_layer,
                                 early.to_values(), event.time)  # fmt: skip
        elif isinstance(event, TrialExited):
            self._on_exit(live, event)
        elif isinstance(event, TrialStarted):
            pass

    def _on_epoch(self, live: LiveTrial, event: EpochReported) -> None:
        live.epochs += 1
        slot = self._slot_of(live)
        if slot is not None:
            slot.epoch = live.epochs  # epochs counted from 1, as everywhere people see them
        self.store.add_epoch(live.trial_id, event.epoch, event.time, event.metrics)
        if event.layer_rows:
            self.store.add_layer_stats(live.trial_id, event.epoch, event.layer_rows)
            live.layer_stats = True
        live.reported.update(event.metrics)
        value = event.metrics.get(self.s.objective)
        if value is not None:
            live.value = value
            if math.isfinite(value) and (
                live.best_value is None or is_better(value, live.best_value, self.s.mode)
            ):
                live.best_value = value
        self.store.update_progress(live.trial_id, live.epochs, live.value, live.best_value)

    def _on_exit(self, live: LiveTrial, event: TrialExited) -> None:
        if event.exit_code == 0 and not event.kill_requested:
            unread = self._unread.completed_trial(event.note)
            if unread:
                self._warn(unread)
        slot = self._slots[event.slot]
        state, reason = self._classify_exit(live, event, slot)
        self._end(live.trial_id, state, reason, event.time)
        if slot.trial_id == live.trial_id:
            slot.finish()

    def _classify_exit(
        self, live: LiveTrial, event: TrialExited, slot: SlotHandle
    ) -> tuple[TrialState, str | None]:
        if slot.kill_reason is not None and slot.trial_id == live.trial_id:
            return slot.kill_reason
        if event.exit_code == 0:
            if live.value is None:
                reported = ", ".join(sorted(live.reported)) or "nothing"
                return TrialState.FAILED, (
                    f"ended without reporting {self.s.objective} (it reported: {reported})"
                )
            return TrialState.FINISHED, None
        if event.signal:
            hint = _SIGNAL_HINTS.get(signal.Signals(event.signal))
            if hint is None:
                hint = f"killed by signal {signal.Signals(event.signal).name}"
            return TrialState.FAILED, hint
        if event.error:
            return TrialState.FAILED, f"raised {event.error}"
        return TrialState.FAILED, f"exited with code {event.exit_code}"

    def _end(self, trial_id: int, state: TrialState, reason: str | None, when: float) -> None:
        live = self.live.pop(trial_id, None)
        if live is None:
            return
        # The store keeps both the last and the best value; the rule picks the one that counts,
        # the same for every trial whatever stopped it (NMG included).
        counted = self.s.count.pick(live.value, live.best_value)
        self.store.end_trial(trial_id, state, reason, when)
        self.ledger.record(
            trial_id, state, indicator=live.indicator, value=counted, params=live.params
        )
        if state in (TrialState.FINISHED, TrialState.TERMINATED, TrialState.FAILED):
            self.searcher.tell(live.params, counted if state is not TrialState.FAILED else None)
            if self.avoider is not None:
                self.avoider.observe(live.params, state is TrialState.FAILED or live.problem)
        self._watch_for_a_broken_task(trial_id, state, reason)
        if live.epochs and not self._warned_blind:
            self._warned_blind = True
            self._warn_if_diagnosis_is_blind(live)
        value = "-" if counted is None else f"{counted:.4g}"
        detail = f" ({reason})" if reason else ""
        self.view.event(
            f"trial {trial_id} {state.value}{detail}: {self.s.objective}={value} "
            f"after {plural(live.epochs, 'epoch')}, {when - live.started:.1f}s"
        )

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

    def _warn_if_diagnosis_is_blind(self, live: LiveTrial) -> None:
        """Once per run, at the end of the first trial that reported an epoch: say which
        indicators the task leaves with nothing to judge (no trial.watch, no train_loss)."""
        if self._diagnoser is None:
            return
        enabled = [rule.short_name for rule in self._diagnoser.rules]
        found = blind_spots(enabled, saw_layer_stats=live.layer_stats, reported=live.reported)
        if not found:
            return
        for text in found:
            self._warn(text)

    def _report_errors(self, monitor: Monitor) -> None:
        """Say when a rule or the monitor raised (a custom indicator with a bug judges nothing
        and would otherwise fail in silence): the first error of each rule (or of the monitor)
        as a warning; each rule's first error per trial in the store (``trials --json`` names
        it for that trial); every error's count in the store's ``diagnosis_errors``."""
        rule_errors = list(self._diagnoser.errors) if self._diagnoser is not None else []
        errors: list[tuple[str, str]] = [(e.rule, str(e)) for e in rule_errors]
        errors += [("monitor", f"monitor: {e}") for e in monitor.errors]
        if len(errors) == self._errors_seen:
            return
        now = self.now()
        for e in rule_errors[self._rule_errors_seen :]:
            if (e.trial_id, e.rule) not in self._errors_stored:
                self._errors_stored.add((e.trial_id, e.rule))
                self.store.add_rule_error(e.trial_id, e.rule, e.error, now)
        self._rule_errors_seen = len(rule_errors)
        for source, text in errors[self._errors_seen :]:
            if source not in self._error_sources:
                self._error_sources.add(source)
                self._warn(f"{source} raised and judged nothing there ({text}); it goes on, "
                           "and later errors are only counted (meta diagnosis_errors)")  # fmt: skip
        self._errors_seen = len(errors)
        self.store.set_meta(diagnosis_errors=len(errors))

    def _warn(self, text: str) -> None:
        """Say ``text`` once: in the live view or log now, in the summary, and in the run."""
        self.warnings.append(f"warning: {text}")
        self.view.event(self.warnings[-1])
        self.store.set_meta(warnings=self.warnings)

    def _succeeded(self) -> bool:
        """Whether any trial of the run (resumed ones included) ran or was judged to a value."""
        return self.counts.finished + self.counts.terminated > 0

    # ------------------------------------------------------------------ verdicts
    def _on_verdict(self, trial_id: int, verdict: Verdict) -> None:
        """Called from diagnosis threads: queue it for the main thread."""
        self._verdicts.put((trial_id, verdict))

    def _handle_verdicts(self) -> None:
        while True:
            try:
                trial_id, verdict = self._verdicts.get_nowait()
            except queue.Empty:
                return
            live = self.live.get(trial_id)
            if live is not None and is_problem(verdict):
                live.problem = True
            acts = self.s.diagnosis or verdict.indicator in self.s.always_acting
            acted = bool(acts and live is not None)
            now = self.now()
            self.store.add_verdict(
                trial_id, verdict.epoch, verdict.indicator, verdict.rule, verdict.values,
                verdict.benign, acted, now,
            )  # fmt: skip
            if not acted or live is None:
                continue
            slot = self._slot_of(live)
            if slot is None or slot.kill_requested_at is not None:
                continue
            self.store.set_verdict(trial_id, verdict.indicator, verdict.rule, verdict.epoch)
            live.indicator = verdict.indicator
            reason = f"{verdict.indicator}: {verdict.rule}"
            slot.kill(TrialState.TERMINATED, reason, now, self.s.kill_grace)

    def _slot_of(self, live: LiveTrial) -> SlotHandle | None:
        slot = self._slots[live.slot]
        return slot if slot.trial_id == live.trial_id else None

    # ------------------------------------------------------------------ view
    def snapshot(self) -> RunSnapshot:
        return RunSnapshot(
            elapsed=self.now(),
            budget=self.s.budget_seconds,
            counts=self.counts,
            running=len(self.live),
            best_value=None if self.best is None else self.best[0],
            best_params=None if self.best is None else self.best[2],
            best_trial=None if self.best is None else self.best[1],
            slots=tuple(SlotView(s.index, s.trial_id, s.epoch, s.started_at) for s in self._slots),
            lost_records=self.monitor.lost if hasattr(self, "monitor") else 0,
            mode=self.s.mode,
            max_trials=self.s.max_trials,
        )
