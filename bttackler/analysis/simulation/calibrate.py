"""``bttackler calibrate``: indicator thresholds chosen on pools by simulated payoff, subject to
killing no trial of a pool's final top 10, cross-validated across pools.

Coordinate search over :data:`KNOBS` (each indicator's main threshold and a few values around
its default): starting from the configured thresholds, each knob in turn takes the candidate
value that raises the simulated Top10HR (the ``bttackler`` arm against the baseline, IQM over
the seeds, averaged over the fitting pools) the most, among the values that stop no trial of
any fitting pool's final top 10 with a problem verdict (judged without the guard: stricter
than a live run). With several pools, each pool is held out once: thresholds fitted on the
others are reported on it, so the figure that counts was not fitted on.

A threshold that raises the payoff on the pools can still stop good trainings of other kinds:
judge the result on the zoo too (``benchmarks/zoo_judge.py --config FILE``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bttackler.analysis.simulation import (
    SearcherFactory,
    build_arm,
    pool_kill_latency,
    run_seeds,
    summarise,
)
from bttackler.analysis.simulation.pool import Pool, firing
from bttackler.core.config import deep_merge
from bttackler.core.errors import BttacklerError
from bttackler.diagnosis import build_from_config

# (indicator, key, candidate values): the default of each is among them
KNOBS: tuple[tuple[str, str, tuple[float, ...]], ...] = (
    ("TWU", "min_update_ratio", (5e-5, 1e-4, 2e-4, 4e-4, 8e-4)),
    ("VGM", "min_abs_gradient", (1e-5, 3e-5, 1e-4)),
    ("SAC", "from_epoch", (3, 4, 6)),
    ("SAC", "share_of_chance", (0.97, 0.99)),
    ("ERG", "lower_bound", (0.01, 0.02, 0.05)),
    ("EAG", "upper_bound", (5.0, 10.0, 20.0)),
    ("PLC", "tolerance", (0.0005, 0.001, 0.003)),
    ("LAR", "threshold", (0.99, 0.999)),
)
MIN_GAIN = 0.5  # Top10HR points a change must add to be taken (the seeds' noise is about this)

Overrides = dict[tuple[str, str], float]


@dataclass(frozen=True)
class Evaluation:
    top10hr: float  # mean over the pools of the bttackler arm's Top10HR IQM
    false_alarms: int  # top-10 trials of the pools a problem verdict would stop


@dataclass(frozen=True)
class Settings:
    method: str
    seeds: int
    workers: int
    budget: float
    kill_latency: float | None = None  # None: each pool's measured (simulate's defaults)
    turnaround: float | None = None


def as_table(overrides: Overrides) -> dict[str, Any]:
    """``{("TWU", "min_update_ratio"): 1e-4}`` as ``{"indicators": {"TWU": {...}}}``."""
    table: dict[str, dict[str, Any]] = {}
    for (indicator, key), value in sorted(overrides.items()):
        table.setdefault(indicator, {})[key] = int(value) if key == "from_epoch" else value
    return {"indicators": table}


def top10_false_alarms(pool: Pool, indicators: Sequence[Any]) -> int:
    """How many of the pool's final top 10 (by last value) a problem verdict would stop."""
    sign = pool.mode.sign
    finals = [
        (sign * t.objective[-1], t.key) for t in pool.trials if math.isfinite(t.objective[-1])
    ]
    alarms = 0
    for _, key in sorted(finals)[:10]:
        trial = pool.trials[key]
        if any(
            (v := i.check(e.history)) is not None and not v.benign
            for e in trial.events
            for i in indicators
        ):
            alarms += 1
    return alarms


def evaluate(
    pools: Sequence[Pool], config: Mapping[str, Any], s: Settings,
    searchers: SearcherFactory | None,
) -> Evaluation:  # fmt: skip
    indicators, _ = build_from_config(config)
    hr, alarms = [], 0
    for pool in pools:
        judged = firing(pool, indicators)
        arms = [build_arm("baseline", config, judged), build_arm("bttackler", config, judged)]
        outcomes = run_seeds(judged, arms, method=s.method, seeds=s.seeds, workers=s.workers,
                             budget=s.budget, count="last",
                             kill_latency=pool_kill_latency(pool) if s.kill_latency is None
                             else s.kill_latency,
                             turnaround=pool.turnaround if s.turnaround is None
                             else s.turnaround, config=config,
                             searchers=searchers)  # fmt: skip
        row = next(r for r in summarise(judged, outcomes) if r["arm"] == "bttackler")
        hr.append(row["top10hr"].iqm)
        alarms += top10_false_alarms(judged, indicators)
    finite = [h for h in hr if math.isfinite(h)]
    return Evaluation(statistics.fmean(finite) if finite else math.nan, alarms)


def fit(
    pools: Sequence[Pool], base: Mapping[str, Any], s: Settings,
    searchers: SearcherFactory | None, knobs: Sequence[tuple[str, str, tuple[float, ...]]] = KNOBS,
    passes: int = 2,
) -> tuple[Overrides, Evaluation, Evaluation]:  # fmt: skip
    """Coordinate search on ``pools`` (module docstring): the overrides, the evaluation of the
    configured thresholds and that of the fitted ones."""
    enabled = {i.short_name for i in build_from_config(base)[0]}
    start = evaluate(pools, base, s, searchers)
    current: Overrides = {}
    best = start
    for _ in range(passes):
        changed = False
        for indicator, key, values in knobs:
            if indicator not in enabled:
                continue
            for value in values:
                candidate = {**current, (indicator, key): value}
                if candidate == current:
                    continue
                e = evaluate(pools, deep_merge(base, as_table(candidate)), s, searchers)
                feasible = e.false_alarms <= min(best.false_alarms, start.false_alarms)
                if feasible and (e.top10hr > best.top10hr + MIN_GAIN
                                 or e.false_alarms < best.false_alarms):  # fmt: skip
                    current, best, changed = candidate, e, True
        if not changed:
            break
    return current, start, best


def calibrate(
    pools: Sequence[Pool], base: Mapping[str, Any], s: Settings,
    searchers: SearcherFactory | None = None,
    knobs: Sequence[tuple[str, str, tuple[float, ...]]] = KNOBS,
) -> dict[str, Any]:  # fmt: skip
    """Fit on every pool (the thresholds to write) and, with two pools or more, on all but one
    in turn, reporting each held-out pool: a JSON-ready dict."""
    if not pools:
        raise BttacklerError("calibrate needs at least one pool")
    overrides, start, best = fit(pools, base, s, searchers, knobs)
    folds = []
    if len(pools) > 1:
        for i, held in enumerate(pools):
            rest = [p for j, p in enumerate(pools) if j != i]
            fold, _, _ = fit(rest, base, s, searchers, knobs)
            before = evaluate([held], base, s, searchers)
            after = evaluate([held], deep_merge(base, as_table(fold)), s, searchers)
            folds.append({
                "held_out": held.runs[0], "overrides": as_table(fold)["indicators"],
                "top10hr_default": before.top10hr, "top10hr_fitted": after.top10hr,
                "false_alarms_default": before.false_alarms,
                "false_alarms_fitted": after.false_alarms,
            })  # fmt: skip
    return {
        "overrides": as_table(overrides)["indicators"],
        "top10hr_default": start.top10hr, "top10hr_fitted": best.top10hr,
        "false_alarms_default": start.false_alarms, "false_alarms_fitted": best.false_alarms,
        "folds": folds, "pools": [p.runs[0] for p in pools], "seeds": s.seeds,
        "method": s.method, "budget": s.budget, "workers": s.workers,
    }  # fmt: skip


__all__ = ["KNOBS", "Evaluation", "Settings", "as_table", "calibrate", "evaluate", "fit"]
