"""The event loop of a simulated search: W slots, a budget, trials from a pool, the arm's rules.

Simulated time only: a trial started at ``t`` replays its recorded events at ``t`` plus their
time relative to its recorded start (so its start-up cost is the recorded one), and ends at
``t`` plus its recorded duration. At every event the arm judges the history there as a live
run would: the indicators that fire on it (precomputed per pool trial, see
:func:`~bttackler.analysis.simulation.pool.firing`), each guarded one skipped while the guard
protects the trial (its cohort: the histories seen so far in simulated time), then the ETR
rule on its cohort so far — at every event, a non-finite record mid-epoch included, as the
live diagnoser hands it every history (ASHA re-judges the rung a trial last reached then,
against the trials that reached it since). A verdict ends the trial ``kill_latency`` seconds later
with the value it had then; its slot starts the next trial ``turnaround`` seconds after any
end. The budget ends the search: trials running then are stopped and do not count, as in
``compare``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bttackler.analysis.metrics import Scored
from bttackler.analysis.simulation.pool import Pool, PoolTrial, as_trial
from bttackler.core.errors import SearchExhausted
from bttackler.diagnosis.avoid import Avoider, AvoidSettings
from bttackler.diagnosis.diagnoser import FinishedTrials
from bttackler.diagnosis.etr import ETR_INDICATORS
from bttackler.diagnosis.guard import Guard, GuardSettings
from bttackler.diagnosis.rule import EtrRule


class PoolSampler(Protocol):
    """Which pool trial runs next, and what it gave (the search method, simulated)."""

    def next(self) -> int: ...

    def tell(self, key: int, value: float) -> None: ...


@dataclass(frozen=True)
class Arm:
    """What judges the trials: the indicators (with ``guarded`` saying which ones the guard
    may overrule), an ETR rule, both, or neither (the baseline)."""

    name: str
    indicators: bool = False
    etr: EtrRule | None = None
    guarded: Mapping[str, bool] = field(default_factory=dict)
    avoid: AvoidSettings | None = None  # --avoid-bad: the model of trouble skips proposals


@dataclass
class Outcome:
    """One simulated search."""

    scored: list[Scored] = field(default_factory=list)  # counted trials, by end time
    started: int = 0
    finished: int = 0
    killed: int = 0
    stopped: int = 0  # running when the budget ended
    kills: dict[str, int] = field(default_factory=dict)
    repeats: int = 0  # configurations the method drew (or mapped to) that had run already
    bad_started: int = 0  # started trials a problem indicator fires on (in the pool's replay)
    skipped: int = 0  # proposals --avoid-bad skipped


@dataclass
class _Running:
    key: int
    epochs: int = 0
    done: bool = False
    verdict: str | None = None


# Proposals --avoid-bad may skip before one start (beyond it the slot idles: a pool the model
# finds all bad); the Avoider's own max_skips lets one through long before.
_MAX_PROPOSALS = 1000


def problem_name(name: str) -> bool:
    """A verdict that says a trial is broken: the indicators', not NMG's (a trial that stopped
    improving) nor the accuracy rules' (a trial that is worse)."""
    return name != "NMG" and name not in ETR_INDICATORS


def had_problem(trial: PoolTrial) -> bool:
    """A problem indicator fires somewhere on the pool trial's recorded history."""
    return any(problem_name(name) for names in trial.fires for name in names)


_EVENT, _END, _FREE = 0, 1, 2


def simulate_search(
    pool: Pool,
    arm: Arm,
    sampler: PoolSampler,
    *,
    workers: int,
    budget: float,
    count: str = "last",
    kill_latency: float = 0.2,
    turnaround: float = 0.05,
    guard: GuardSettings | None = None,
    avoider: Avoider | None = None,
) -> Outcome:
    """Run one search of ``budget`` simulated seconds on ``workers`` slots (module docstring)."""
    if workers < 1 or not budget > 0:
        raise ValueError("workers must be >= 1 and budget > 0")
    out = Outcome()
    protection = Guard(guard)
    finished = FinishedTrials()
    running: dict[int, _Running] = {}
    heap: list[tuple[float, int, int, int, int]] = []  # time, kind, order, trial id, event
    order = 0

    def push(when: float, kind: int, trial_id: int, index: int = -1) -> None:
        nonlocal order
        order += 1
        heapq.heappush(heap, (when, kind, order, trial_id, index))

    def start(now: float) -> None:
        for _ in range(_MAX_PROPOSALS):
            try:
                key = sampler.next()
            except SearchExhausted:
                return  # the slot stays idle: a grid has nothing left
            skip = None if avoider is None else avoider.judge(pool.trials[key].params)
            if skip is None:
                break
            out.skipped += 1
            sampler.tell(key, math.nan)  # told as a failed trial, as a live run does
        else:
            return
        trial_id = out.started + 1
        out.started += 1
        running[trial_id] = _Running(key)
        trial = pool.trials[key]
        out.bad_started += had_problem(trial)
        for index, event in enumerate(trial.events):
            push(now + event.time, _EVENT, trial_id, index)
        push(now + trial.end, _END, trial_id)

    def end(trial_id: int, when: float, completed: bool) -> None:
        state = running[trial_id]
        state.done = True
        trial = pool.trials[state.key]
        epochs = len(trial.objective) if completed else state.epochs
        value = trial.value_at(epochs, count, pool.mode)
        if when <= budget and math.isfinite(value):
            out.scored.append(Scored(trial_id, value, when))
        finished.ended(trial_id, completed)
        if avoider is not None:  # what a live run learns: the verdict that ended it, or failure
            bad = not math.isfinite(value) or (
                state.verdict is not None and problem_name(state.verdict)
            )
            avoider.observe(trial.params, bad)
        sampler.tell(state.key, value)
        push(when + turnaround, _FREE, trial_id)

    for _ in range(workers):
        start(0.0)
    while heap:
        when, kind, _, trial_id, index = heapq.heappop(heap)
        if when > budget:
            break
        state = running[trial_id]
        if kind == _FREE:
            start(when)
            continue
        if state.done:
            continue
        trial = pool.trials[state.key]
        if kind == _END:
            out.finished += 1
            end(trial_id, when, completed=True)
            continue
        event = trial.events[index]
        history = as_trial(event.history, trial_id)
        if event.is_epoch:
            state.epochs += 1
            protection.record(history)
            if arm.etr is not None:  # only the ETR rules read the finished cohort
                finished.update(history)
        verdict = None
        if arm.indicators:
            for name in trial.fires[index]:
                if arm.guarded.get(name, False) and protection.protects(history):
                    continue
                verdict = name
                break
        if verdict is None and arm.etr is not None:  # at every event, as the live diagnoser
            found = arm.etr.check(history, finished.cohort_of(arm.etr))  # fans each one out
            verdict = None if found is None else found.indicator
        if verdict is not None:
            out.killed += 1
            out.kills[verdict] = out.kills.get(verdict, 0) + 1
            state.verdict = verdict
            end(trial_id, when + kill_latency, completed=False)
    out.stopped = sum(1 for s in running.values() if not s.done)
    out.scored.sort(key=lambda s: (s.time, s.trial_id))
    return out


__all__ = ["Arm", "Outcome", "PoolSampler", "simulate_search"]
