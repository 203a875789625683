"""The simulated search's event loop on small hand-made pools with known answers: two slots,
a kill, the guard, an ETR rule, the budget's end."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from bttackler.analysis.replay import ReplayEvent
from bttackler.analysis.simulation.engine import Arm, simulate_search
from bttackler.analysis.simulation.pool import Pool, PoolTrial
from bttackler.analysis.simulation.samplers import RandomPoolSampler
from bttackler.core.history import EpochRecord, TrialHistory
from bttackler.core.verdict import Verdict


def trial(key: int, values: Sequence[float], epoch_seconds: float = 5.0,
          fires: Sequence[Sequence[str]] = (), loss: float = 1.0) -> PoolTrial:  # fmt: skip
    """A trial of len(values) epochs, one every ``epoch_seconds``, ending at the last."""
    records: list[EpochRecord] = []
    events = []
    for i, v in enumerate(values):
        records.append(EpochRecord(i, {"val_acc": v, "train_loss": loss}))
        history = TrialHistory(key, {"k": key}, len(values), tuple(records))
        events.append(ReplayEvent((i + 1) * epoch_seconds, key, True, history))
    marks = tuple(tuple(f) for f in fires) or tuple(() for _ in values)
    return PoolTrial(key, "run", {"k": key}, tuple(events), len(values) * epoch_seconds,
                     tuple(values), marks)  # fmt: skip


def pool(*trials: PoolTrial) -> Pool:
    return Pool(tuple(trials), "val_acc", "max", 2, math.nan, None, ("run",), 0)


class Fixed:
    """Draws the pool trials in a given order, then the last one again and again."""

    def __init__(self, order: Sequence[int]) -> None:
        self.order = list(order)
        self.told: list[tuple[int, float]] = []
        self.repeats = 0
        self.drawn = 0

    def next(self) -> int:
        self.drawn += 1
        return self.order[min(self.drawn, len(self.order)) - 1]

    def tell(self, key: int, value: float) -> None:
        self.told.append((key, value))


def test_two_slots_run_until_the_budget_and_running_trials_do_not_count() -> None:
    p = pool(*(trial(k, [0.5, 0.6 + k / 100]) for k in range(6)))
    out = simulate_search(p, Arm("baseline"), Fixed(range(6)), workers=2, budget=25.0,
                          turnaround=0.05)  # fmt: skip
    # slots start 0 and 1 at 0 s (end 10 s), 2 and 3 at 10.05 s (end 20.05 s), 4 and 5 at
    # 20.1 s: still running when the budget ends at 25 s
    assert out.started == 6 and out.finished == 4 and out.stopped == 2 and out.killed == 0
    assert [(s.trial_id, s.time) for s in out.scored] == [
        (1, 10.0), (2, 10.0), (3, pytest.approx(20.05)), (4, pytest.approx(20.05))
    ]  # fmt: skip
    assert [s.value for s in out.scored] == [0.6, 0.61, 0.62, 0.63]


def test_a_verdict_ends_the_trial_after_the_kill_latency_with_its_value_then() -> None:
    bad = trial(0, [0.1, 0.1], fires=[("TWU",), ("TWU",)])
    good = trial(1, [0.5, 0.9])
    sampler = Fixed([0, 1, 1])
    out = simulate_search(pool(bad, good), Arm("bttackler", indicators=True), sampler,
                          workers=1, budget=30.0, kill_latency=0.2, turnaround=0.05)  # fmt: skip
    assert out.kills == {"TWU": 1} and out.killed == 1
    # killed at its first epoch (5 s) + 0.2 s; the slot starts trial 2 at 5.25 s (ends 15.25)
    assert [(s.trial_id, s.value, s.time) for s in out.scored] == [
        (1, 0.1, pytest.approx(5.2)), (2, 0.9, pytest.approx(15.25)),
        (3, 0.9, pytest.approx(25.3)),
    ]  # fmt: skip
    assert sampler.told[0] == (0, 0.1)
    baseline = simulate_search(pool(bad, good), Arm("baseline"), Fixed([0, 1, 1]), workers=1,
                               budget=30.0)  # fmt: skip
    assert len(baseline.scored) == 2  # the bad one took its whole 10 s


def test_the_guard_spares_a_trial_among_the_best_of_its_epoch() -> None:
    from bttackler.diagnosis.guard import GuardSettings

    # ten trials reach epoch 1 with loss 1.0; the flagged one has the lowest loss: protected
    others = [trial(k, [0.5, 0.5]) for k in range(10)]
    flagged = trial(10, [0.7, 0.9], epoch_seconds=6.0, fires=[("ERG",), ()], loss=0.1)
    arm = Arm("bttackler", indicators=True, guarded={"ERG": True})
    guard = GuardSettings(min_trials=10)
    order = list(range(11))
    # budget: the flagged trial's first epoch (6 s), not the second round of draws
    spared = simulate_search(pool(*others, flagged), arm, Fixed(order), workers=11,
                             budget=11.0, guard=guard)  # fmt: skip
    assert spared.killed == 0
    unguarded = Arm("bttackler", indicators=True, guarded={"ERG": False})
    killed = simulate_search(pool(*others, flagged), unguarded, Fixed(order), workers=11,
                             budget=11.0, guard=guard)  # fmt: skip
    assert killed.kills == {"ERG": 1}


class StopAtSecondEpoch:
    """An ETR rule: stops any trial at its second epoch once one trial finished."""

    short_name = "ETR"
    cohort = "finished"

    def check(self, history: TrialHistory, finished: Sequence[TrialHistory]) -> Verdict | None:
        if len(history.epochs) == 2 and finished:
            return Verdict(indicator="ETR", rule="second epoch", epoch=2, values={})
        return None


def test_an_etr_rule_sees_the_trials_finished_so_far() -> None:
    p = pool(*(trial(k, [0.5, 0.6, 0.7], epoch_seconds=1.0) for k in range(3)))
    out = simulate_search(p, Arm("etr", etr=StopAtSecondEpoch()), Fixed([0, 1, 2]),
                          workers=1, budget=8.0)  # fmt: skip
    # trial 1 finishes at 3 s (nothing had finished before), trials 2 and 3 are stopped at
    # their second epoch (5.05 s and 7.3 s, + 0.2 s); trial 4 has no epoch by 8 s
    assert out.finished == 1 and out.kills == {"ETR": 2}
    assert [s.value for s in out.scored] == [0.7, 0.6, 0.6]


def test_random_sampler_draws_without_replacement_then_counts_repeats() -> None:
    sampler = RandomPoolSampler(4, seed=0)
    first = [sampler.next() for _ in range(4)]
    assert sorted(first) == [0, 1, 2, 3] and sampler.repeats == 0
    sampler.next()
    assert sampler.repeats == 1
