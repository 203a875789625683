"""Pools: recorded trials that ran to their end, replayable at any start time.

A pool is one or more recorded runs. Each trial that finished (ran to its end, never stopped)
becomes a :class:`PoolTrial`: its configuration, its events as the live monitor saw them
(:func:`~bttackler.analysis.replay.trial_events`, with times relative to the trial's start,
so the first epoch's time includes its start-up), its end, and its objective per epoch. The
per-epoch verdicts of every indicator are computed once per pool (:func:`firing`), since
indicators are pure functions of a history; only the guard's cohort and the ETR rules'
finished trials depend on what else ran, and the simulation judges those as it goes.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bttackler.analysis.metrics import RunData, load_run
from bttackler.analysis.replay import ReplayEvent, trial_events
from bttackler.core.errors import BttacklerError
from bttackler.core.history import TrialHistory
from bttackler.core.objective import Mode
from bttackler.core.run_context import RunContext
from bttackler.core.store import ReadOnlyStore, TrialRow
from bttackler.core.trial_state import TrialState
from bttackler.diagnosis.indicators import Indicator

DEFAULT_TURNAROUND = 0.005  # s; this machine's local slots: median 3 ms (payoff runs)
DEFAULT_KILL_LATENCY = 0.01  # s; median 7-9 ms from verdict to end in the payoff runs


@dataclass(frozen=True)
class PoolTrial:
    """One recorded trial, its times relative to its own start."""

    key: int  # its place in the pool
    run: str
    params: dict[str, Any]
    events: tuple[ReplayEvent, ...]
    end: float  # seconds from start to end
    objective: tuple[float, ...]  # per epoch event, the objective reported at that epoch
    # per event: the indicators that fire on the history there (pool.firing fills it)
    fires: tuple[tuple[str, ...], ...] = field(default=())

    def value_at(self, epochs: int, count: str, mode: Mode) -> float:
        """The value it counts with after ``epochs`` epochs: the last reported objective, or
        (``count == "best"``) the best so far; NaN when none is finite."""
        if epochs < 1:
            return math.nan
        if count == "best":
            finite = [v for v in self.objective[:epochs] if math.isfinite(v)]
            if not finite:
                return math.nan
            return mode.best(finite)
        return self.objective[epochs - 1]


@dataclass(frozen=True)
class Pool:
    """Trials of one task, objective and search space, from one or more recorded runs."""

    trials: tuple[PoolTrial, ...]
    objective: str
    mode: Mode
    max_epochs: int
    chance_loss: float
    space: str | None
    runs: tuple[str, ...]
    skipped: int  # trials of those runs that did not run to their end
    # Measured in the pool's runs (medians): from a trial's end to the next start on its slot,
    # and from an acted verdict to its trial's end (a --no-diagnosis pool has none: None).
    turnaround: float = DEFAULT_TURNAROUND
    kill_latency: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", Mode.of(self.mode))  # "max"/"min" read as a Mode


def slot_gaps(rows: Sequence[TrialRow]) -> list[float]:
    """Seconds from each trial's end to the next trial's start on the same slot."""
    by_slot: dict[int, list[TrialRow]] = {}
    for r in rows:
        if r.slot is not None and r.started is not None:
            by_slot.setdefault(r.slot, []).append(r)
    gaps = []
    for trials in by_slot.values():
        trials.sort(key=lambda r: r.started or 0.0)
        gaps += [
            b.started - a.ended
            for a, b in zip(trials, trials[1:], strict=False)
            if a.ended is not None and b.started is not None and b.started >= a.ended
        ]
    return gaps


def kill_latencies(run: RunData) -> list[float]:
    """Seconds from each acted verdict to its trial's end."""
    first: dict[int, float] = {}
    for v in run.verdicts:
        if v.get("acted"):
            first.setdefault(int(v["trial_id"]), float(v["time"]))
    return [float(t.ended) - first[t.id] for t in run.trials
            if t.id in first and t.ended is not None and t.ended >= first[t.id]]  # fmt: skip


def load_pool(paths: Sequence[Path]) -> Pool:
    """The finished trials of the runs in ``paths`` (all of one task and objective).

    Raises:
        BttacklerError: not a run, runs of different tasks or objectives, or no finished trial.
    """
    trials: list[PoolTrial] = []
    skipped = 0
    first: dict[str, Any] | None = None
    gaps: list[float] = []
    latencies: list[float] = []
    for path in paths:
        run = load_run(path)
        gaps += slot_gaps(run.trials)
        latencies += kill_latencies(run)
        meta = dict(run.meta)
        if first is None:
            first = meta
        elif (meta.get("task"), meta.get("objective")) != (
            first.get("task"),
            first.get("objective"),
        ):
            raise BttacklerError(
                f"{path}: task {meta.get('task')!r} / {meta.get('objective')!r} differs from "
                f"the pool's {first.get('task')!r} / {first.get('objective')!r}"
            )
        context = RunContext.from_meta(meta)
        store = ReadOnlyStore.open(path)
        try:
            for row in run.trials:
                if row.state != TrialState.FINISHED.value or row.started is None:
                    skipped += 1
                    continue
                events = trial_events(
                    row, context.max_epochs, store.epochs(row.id), store.layer_stats(row.id),
                    store.nonfinite_events(row.id), context.chance_loss,
                    store.early_events(row.id),
                )  # fmt: skip
                start = float(row.started)
                shifted = tuple(replace(e, time=max(0.0, e.time - start)) for e in events)
                objective_series = tuple(
                    float(e.history.epochs[-1].metrics.get(context.objective, math.nan))
                    for e in shifted
                    if e.is_epoch
                )
                if not objective_series:
                    skipped += 1
                    continue
                end = max(float(row.ended or start) - start, max(e.time for e in shifted))
                trials.append(PoolTrial(len(trials), run.name, dict(row.params), shifted,
                                        end, objective_series))  # fmt: skip
        finally:
            store.close()
    if not trials or first is None:
        raise BttacklerError("the pool holds no trial that ran to its end (record pools with "
                             "--no-diagnosis)")  # fmt: skip
    context = RunContext.from_meta(first)
    return Pool(
        trials=tuple(trials), objective=context.objective, mode=context.mode,
        max_epochs=context.max_epochs, chance_loss=context.chance_loss, space=first.get("space"),
        runs=tuple(str(p) for p in paths), skipped=skipped,
        turnaround=statistics.median(gaps) if gaps else DEFAULT_TURNAROUND,
        kill_latency=statistics.median(latencies) if latencies else None,
    )  # fmt: skip


def firing(pool: Pool, indicators: Sequence[Indicator[Any]]) -> Pool:
    """``pool`` with each trial's ``fires``: per event, the indicators (in ``indicators``
    order) whose check is positive on the history there. Pure functions of the history, so
    computed once and shared by every seed and arm."""
    judged = []
    for trial in pool.trials:
        fires = tuple(
            tuple(i.short_name for i in indicators if i.check(e.history) is not None)
            for e in trial.events
        )
        judged.append(replace(trial, fires=fires))
    return replace(pool, trials=tuple(judged))


def as_trial(history: TrialHistory, trial_id: int) -> TrialHistory:
    """``history`` under another trial id (one pool trial may run more than once)."""
    return history if history.trial_id == trial_id else replace(history, trial_id=trial_id)


__all__ = ["Pool", "PoolTrial", "as_trial", "firing", "load_pool"]
