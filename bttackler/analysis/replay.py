"""``bttackler replay``: the paper's calibration simulator (section 3.3).

Re-diagnoses the recorded statistics of every trial of a run with other indicator settings,
without training. Each trial's history is rebuilt from the store event by event by the
builder the live monitor uses (:class:`~bttackler.core.history.HistoryBuilder`: epochs with
their metrics and per-layer statistics, non-finite events numbered by the count of epochs
closed before them), and judged by the same indicator objects the live diagnosis uses.

Order: the events of all trials are merged by their recorded run-clock time (ties: the trial
that ended first, then record order), which is the order the live monitor saw them in. The
guard's cohort therefore holds what the live run's cohort held at that time, approximately: live,
the indicator threads may lag the monitor by a few events, and a trial that replay stops early
(but that ran on in the recorded run) feeds the cohort no more epochs after its stop.

A trial is judged until its first verdict. For every indicator alone (the paper's Table 5)
and for all enabled indicators together (what the live run would do; when several fire on the
same event, the first in ``enabled`` order wins, where live it is a race between threads).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bttackler.analysis.metrics import RunData, load_run
from bttackler.core.config import deep_merge, load_config, read_toml
from bttackler.core.errors import BttacklerError
from bttackler.core.history import HistoryBuilder, TrialHistory
from bttackler.core.objective import CountRule
from bttackler.core.run_context import RunContext
from bttackler.core.store import ReadOnlyStore, TrialRow
from bttackler.diagnosis import Guard, GuardSettings, build_from_config
from bttackler.diagnosis.indicators import Indicator

CONFIG_SNAPSHOT = "config.toml"
COMBINED = "all"


@dataclass(frozen=True)
class ReplayEvent:
    """One moment the live monitor handed a trial's history to the indicators."""

    time: float
    trial_id: int
    is_epoch: bool  # False: a non-finite event or the early record, seen mid-epoch
    history: TrialHistory


@dataclass(frozen=True)
class Claim:
    """An indicator's first verdict on one trial in the replay."""

    trial_id: int
    indicator: str
    rule: str
    epoch: int  # as the task reported it
    epoch_count: int  # epochs recorded when the verdict came
    time: float  # run-clock time of the judged event
    saved: float | None  # trial's recorded end minus ``time``; None if it has no end
    benign: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "trial_id": self.trial_id, "indicator": self.indicator, "rule": self.rule,
            "epoch": self.epoch, "epoch_count": self.epoch_count, "time": self.time,
            "saved": self.saved, "benign": self.benign,
        }  # fmt: skip


# ---------------------------------------------------------------- rebuilding histories
def trial_events(
    trial: TrialRow,
    max_epochs: int,
    epochs: Sequence[tuple[int, float, Mapping[str, float]]],
    layer_stats: Sequence[tuple[int, str, int, str, Sequence[float]]],
    nonfinite: Sequence[tuple[int, int, str, float, float, float]],
    chance_loss: float = math.nan,
    early: Sequence[tuple[int, int, str, Sequence[float], float]] = (),
) -> list[ReplayEvent]:
    """The events of one trial with the history at each, from its store rows.

    ``layer_stats`` rows belong to the (first) epoch record with the same epoch number. A
    non-finite row with ``epoch == k`` was seen after ``k`` epoch records had closed, and so
    was an ``early`` row (the probe's record inside epoch 1: ``(epoch, layer index, layer,
    values, time)``, see :meth:`~bttackler.core.store.Store.early_events`).
    """
    stats_by_epoch: dict[int, list[tuple[str, int, str, Sequence[float]]]] = {}
    for epoch, kind, index, name, values in layer_stats:
        stats_by_epoch.setdefault(epoch, []).append((kind, index, name, values))
    pending = sorted(nonfinite, key=lambda r: r[0])  # stable: record order within an epoch
    pending_early = sorted(early, key=lambda r: r[0])
    builder = HistoryBuilder(trial.id, trial.params, max_epochs, chance_loss=chance_loss)
    events: list[ReplayEvent] = []

    def flush_nonfinite() -> None:
        closed = len(builder.epochs)
        mid_epoch: list[tuple[float, bool, Any]] = []  # this epoch's events, in time order
        while pending and pending[0][0] <= closed:
            mid_epoch.append((float(pending[0][5]), False, pending.pop(0)))
        while pending_early and pending_early[0][0] <= closed:
            mid_epoch.append((float(pending_early[0][4]), True, pending_early.pop(0)))
        for when, is_early, row in sorted(mid_epoch, key=lambda m: (m[0], m[1])):
            if is_early:
                _, index, layer, values, _ = row
                builder.set_early(index, layer, values)
            else:
                _, batch, layer, nan, inf, _ = row
                builder.add_nonfinite(batch, layer, nan, inf)
            events.append(ReplayEvent(when, trial.id, False, builder.history()))

    flush_nonfinite()
    for epoch, when, metrics in epochs:
        rows = stats_by_epoch.pop(epoch, [])  # a repeated epoch number: stats go to the first
        builder.close_epoch(epoch, metrics, rows, time=float(when))
        events.append(ReplayEvent(float(when), trial.id, True, builder.history()))
        flush_nonfinite()
    for epoch, batch, layer, nan, inf, when in pending:  # numbered past the last record
        builder.add_nonfinite(batch, layer, nan, inf, epoch=epoch)
        events.append(ReplayEvent(float(when), trial.id, False, builder.history()))
    return events


def load_events(run: RunData) -> list[ReplayEvent]:
    """Every trial's events, merged in the order the live monitor saw them (module docstring)."""
    context = RunContext.from_meta(run.meta)
    end_rank = {t.id: (t.ended if t.ended is not None else math.inf, t.id) for t in run.trials}
    store = ReadOnlyStore.open(run.path)
    try:
        merged: list[tuple[float, tuple[float, int], int, ReplayEvent]] = []
        for trial in run.trials:
            events = trial_events(
                trial, context.max_epochs, store.epochs(trial.id), store.layer_stats(trial.id),
                store.nonfinite_events(trial.id), context.chance_loss,
                store.early_events(trial.id),
            )  # fmt: skip
            merged.extend((e.time, end_rank[trial.id], i, e) for i, e in enumerate(events))
    finally:
        store.close()
    merged.sort(key=lambda m: m[:3])
    return [m[3] for m in merged]


# ---------------------------------------------------------------- the simulator
def simulate(
    events: Sequence[ReplayEvent],
    indicators: Sequence[Indicator[Any]],
    guard: GuardSettings,
    ended: Mapping[int, float | None],
) -> dict[int, Claim]:
    """Judge ``events`` in order with ``indicators`` together; each trial until its first
    verdict. Returns the claim per claimed trial."""
    protection = Guard(guard)
    claims: dict[int, Claim] = {}
    for event in events:
        if event.trial_id in claims:
            continue
        history = event.history
        if event.is_epoch:
            protection.record(history)
        for indicator in indicators:
            if indicator.guarded and protection.protects(history):
                continue
            verdict = indicator.check(history)
            if verdict is None:
                continue
            end = ended.get(event.trial_id)
            claims[event.trial_id] = Claim(
                trial_id=event.trial_id,
                indicator=verdict.indicator,
                rule=verdict.rule,
                epoch=verdict.epoch,
                epoch_count=len(history.epochs),
                time=event.time,
                saved=None if end is None else max(0.0, end - event.time),
                benign=verdict.benign,
            )
            break
    return claims


def final_top10(run: RunData, count: CountRule) -> list[int]:
    """Ids of the run's final top 10 counted trials, valued by ``count`` (ties: earlier end,
    then lower id)."""
    sign = run.mode.sign
    scored = sorted(run.scored(count), key=lambda s: (sign * s.value, s.time, s.trial_id))
    return [s.trial_id for s in scored[:10]]


def replay_config(
    run_dir: Path, config_file: Path | None = None, indicators: Sequence[str] | None = None
) -> dict[str, Any]:
    """The run's ``config.toml`` snapshot (the defaults if it has none), ``config_file``
    merged over it key by key, and ``indicators`` as ``[indicators] enabled``."""
    snapshot = run_dir / CONFIG_SNAPSHOT
    config = read_toml(snapshot) if snapshot.is_file() else load_config(cwd=run_dir)
    if config_file is not None:
        config = deep_merge(config, read_toml(config_file))
    if indicators:
        config = deep_merge(config, {"indicators": {"enabled": list(indicators)}})
    return config


def replay(
    run: RunData,
    config: Mapping[str, Any],
    *,
    count: CountRule,
    only: Sequence[str] | None = None,
    events: Sequence[ReplayEvent] | None = None,
) -> dict[str, Any]:
    """Replay ``run`` with the indicators and guard of ``config``; the result as a JSON-ready
    dict: ``indicators`` (one entry per indicator alone, then ``"all"`` together), each with
    ``claimed``, ``claims``, ``epochs`` (count per epoch number), ``saved_seconds`` and
    ``false_alarms`` (claims on trials of the final top 10 that are not benign); the top 10
    ranks the trials by the value ``count`` picks (``count`` in the result)."""
    built, guard = build_from_config(config)
    if only:
        built = [ind for ind in built if ind.short_name in set(only)]
    if not built:
        raise BttacklerError("no indicator to replay (check --indicators and [indicators])")
    if events is None:
        events = load_events(run)
    ended = {t.id: t.ended for t in run.trials}
    top10 = final_top10(run, count)
    scenarios: list[tuple[str, list[Indicator[Any]]]] = [(i.short_name, [i]) for i in built]
    if len(built) > 1:
        scenarios.append((COMBINED, built))
    results = []
    for name, group in scenarios:
        claims = simulate(events, group, guard, ended)
        ordered = sorted(claims.values(), key=lambda c: (c.time, c.trial_id))
        epochs: dict[str, int] = {}
        for c in ordered:
            epochs[str(c.epoch)] = epochs.get(str(c.epoch), 0) + 1
        results.append(
            {
                "indicator": name,
                "claimed": len(ordered),
                "epochs": dict(sorted(epochs.items(), key=lambda kv: int(kv[0]))),
                "saved_seconds": sum(c.saved or 0.0 for c in ordered),
                "false_alarms": [
                    c.trial_id for c in ordered if c.trial_id in top10 and not c.benign
                ],  # fmt: skip
                "benign_in_top10": [
                    c.trial_id for c in ordered if c.trial_id in top10 and c.benign
                ],  # fmt: skip
                "claims": [c.to_json() for c in ordered],
            }
        )
    return {
        "run": run.name,
        "trials": len(run.trials),
        "replayed_trials": len({e.trial_id for e in events}),
        "guard": guard.enabled,
        "count": count.value,
        "top10": top10,
        "indicators": results,
        "live": live_claims(run),
    }


def live_claims(run: RunData) -> list[dict[str, Any]]:
    """What the live run did: the verdict each terminated trial was stopped by."""
    return [
        {"trial_id": t.id, "indicator": t.indicator, "epoch": t.verdict_epoch}
        for t in run.trials
        if t.indicator is not None
    ]


def run_replay(
    run_dir: Path,
    config_file: Path | None = None,
    indicators: Sequence[str] | None = None,
    *,
    count: CountRule,
) -> dict[str, Any]:
    """Load ``run_dir``, build its replay configuration and replay it (top 10 by ``count``)."""
    run = load_run(run_dir)
    config = replay_config(run_dir, config_file, indicators)
    return replay(run, config, count=count, only=indicators)


__all__ = [
    "Claim",
    "ReplayEvent",
    "final_top10",
    "load_events",
    "replay",
    "replay_config",
    "run_replay",
    "simulate",
    "trial_events",
]
