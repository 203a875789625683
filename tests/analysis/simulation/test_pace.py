"""The machine's pace against a pool: epoch durations, the configuration-by-configuration
ratio, and a pool's times scaled by it."""

from __future__ import annotations

import math
import random

import pytest

from bttackler.analysis.replay import ReplayEvent
from bttackler.analysis.simulation.engine import Arm, simulate_search
from bttackler.analysis.simulation.pace import (
    TrialDurations,
    at_pace,
    durations_of,
    pace_against,
    pool_durations,
)
from bttackler.analysis.simulation.pool import Pool, PoolTrial
from bttackler.analysis.simulation.samplers import RandomPoolSampler
from bttackler.core.errors import BttacklerError
from bttackler.core.history import EpochRecord, TrialHistory
from bttackler.core.space import space_from_mapping

SPACE = space_from_mapping({
    "batch_size": {"_type": "choice", "_value": [16, 64, 256]},
    "width": {"_type": "randint", "_value": [8, 129]},
})  # fmt: skip


def seconds_per_epoch(params: dict[str, int]) -> float:
    """A made-up machine: small batches and wide nets are slow."""
    return 0.02 * (256 / params["batch_size"]) * (1 + params["width"] / 64)


def trials(n: int, pace: float, rng: random.Random, epochs: int = 5) -> list[TrialDurations]:
    out = []
    for _ in range(n):
        params = {"batch_size": rng.choice([16, 64, 256]), "width": rng.randrange(8, 129)}
        base = seconds_per_epoch(params)
        durations = [pace * (base + 0.3 if k == 0 else base) * math.exp(rng.gauss(0, 0.05))
                     for k in range(epochs)]  # fmt: skip
        out.append(TrialDurations(params, tuple(durations)))
    return out


def test_durations_from_the_start_then_between_epochs() -> None:
    assert durations_of(1.0, [1.5, 2.0, 3.0]) == pytest.approx((0.5, 0.5, 1.0))
    # a repeated or earlier time (a clock step) is dropped, not a negative duration
    assert durations_of(1.0, [1.5, 1.5, 1.2, 2.5]) == pytest.approx((0.5, 1.0))


def test_pace_is_the_ratio_for_the_same_configurations_not_for_the_same_draws() -> None:
    rng = random.Random(3)
    pool = trials(200, 1.0, rng)
    # a later run 20% faster, which happened to draw slow configurations: its raw mean epoch
    # is longer than the pool's, yet configuration by configuration it ran at 0.8
    slow_draws = [t for t in trials(400, 0.8, rng) if t.params["batch_size"] == 16][:40]
    raw = (
        sum(sum(t.durations) for t in slow_draws)
        / sum(len(t.durations) for t in slow_draws)
        / (sum(sum(t.durations) for t in pool) / sum(len(t.durations) for t in pool))
    )
    assert raw > 1.0
    pace = pace_against(pool, slow_draws, SPACE).epochs
    assert pace.factor == pytest.approx(0.8, abs=0.04)
    assert pace.low <= pace.factor <= pace.high and pace.high - pace.low < 0.1
    assert pace.trials == 40 and pace.epochs == 160
    same = pace_against(pool, trials(60, 1.0, rng), SPACE)
    assert same.epochs.factor == pytest.approx(1.0, abs=0.04)
    assert same.startup.factor == pytest.approx(1.0, abs=0.04) and same.startup.epochs == 60


def test_start_up_and_training_are_paced_apart() -> None:
    rng = random.Random(5)
    pool = trials(200, 1.0, rng)
    # start-up 30% slower while training runs 15% faster
    later = [TrialDurations(t.params, (t.durations[0] * 1.3, *(d * 0.85 for d in t.durations[1:])))
             for t in trials(80, 1.0, rng)]  # fmt: skip
    pace = pace_against(pool, later, SPACE)
    assert pace.startup.factor == pytest.approx(1.3, abs=0.06)
    assert pace.epochs.factor == pytest.approx(0.85, abs=0.04)


def test_a_pool_too_small_to_learn_durations_from_is_refused() -> None:
    rng = random.Random(0)
    with pytest.raises(BttacklerError, match="too few"):
        pace_against(trials(3, 1.0, rng), trials(5, 1.0, rng), SPACE)


def replayed(key: int, epoch_seconds: float, epochs: int = 3) -> PoolTrial:
    records, events = [], []
    for i in range(epochs):
        records.append(EpochRecord(i, {"val_acc": 0.5}))
        history = TrialHistory(key, {"k": key}, epochs, tuple(records))
        events.append(ReplayEvent((i + 1) * epoch_seconds, key, True, history))
    return PoolTrial(key, "run", {"k": key}, tuple(events), epochs * epoch_seconds,
                     tuple(0.5 for _ in range(epochs)))  # fmt: skip


def test_at_pace_scales_every_time_and_a_faster_machine_runs_more_trials() -> None:
    pool = Pool(tuple(replayed(k, 2.0) for k in range(40)), "val_acc", "max", 3, math.nan,
                None, ("run",), 0)  # fmt: skip
    fast = at_pace(pool, 0.5)
    assert [e.time for e in fast.trials[0].events] == [1.0, 2.0, 3.0]
    assert fast.trials[0].end == 3.0 and pool.trials[0].end == 6.0
    assert pool_durations(fast)[0].durations == (1.0, 1.0, 1.0)
    assert at_pace(pool, 1.0) is pool and at_pace(pool, 1.0, 1.0) is pool
    # start-up (up to the first epoch) at 2x, the later epochs at 0.5x
    split = at_pace(pool, 2.0, 0.5)
    assert [e.time for e in split.trials[0].events] == [4.0, 5.0, 6.0]
    assert split.trials[0].end == 6.0

    def started(p: Pool) -> int:
        return simulate_search(p, Arm("baseline"), RandomPoolSampler(40, 0), workers=2,
                               budget=29.0, turnaround=0.0).started  # fmt: skip

    assert started(pool) == 10 and started(fast) == 20  # 2 slots x 29 s / (6 s or 3 s)
    with pytest.raises(BttacklerError, match="> 0"):
        at_pace(pool, 0.0)
    with pytest.raises(BttacklerError, match="> 0"):
        at_pace(pool, 1.0, -1.0)
