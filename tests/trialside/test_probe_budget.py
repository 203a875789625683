"""The probe's sampling budget on a clock the test moves by hand."""

from __future__ import annotations

import pytest

from bttackler.trialside.probe_budget import SamplingBudget


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_stride_grows_so_that_long_epochs_take_at_most_max_samples() -> None:
    budget = SamplingBudget(stats_every=10, max_samples=8, overhead_budget=None, clock=Clock())
    assert [b for b in range(30) if budget.due(b)] == [1, 11, 21]  # not batch 0
    budget.end_epoch(batches=100, flush_began=0.0)
    assert budget.stride == 13  # ceil(100 / 8)
    budget.end_epoch(batches=30, flush_began=0.0)
    assert budget.stride == 10  # never below stats_every


def test_next_stride_fits_the_samples_and_the_flush_in_the_budget() -> None:
    clock = Clock()
    budget = SamplingBudget(stats_every=1, max_samples=100, overhead_budget=0.1, clock=clock)
    for _ in range(3):  # three samples of 0.1 s each in a 10 s epoch
        began = clock.now
        clock.now += 0.1
        budget.sampled(began)
        clock.now += 10.0 / 3 - 0.1
    flush_began = clock.now
    clock.now += 0.2  # the flush
    budget.end_epoch(batches=50, flush_began=flush_began)
    # budget 0.1 * 10.2 s = 1.02 s, minus the 0.2 s flush: 8 samples of 0.1 s -> stride 7
    assert budget.stride == 7
    assert budget.samples == 0


def test_a_tight_budget_still_samples_once_an_epoch() -> None:
    clock = Clock()
    budget = SamplingBudget(stats_every=1, max_samples=8, overhead_budget=0.01, clock=clock)
    clock.now += 1.0  # the one sample took the whole epoch
    budget.sampled(0.0)
    budget.end_epoch(batches=20, flush_began=clock.now)
    assert budget.stride == 20
    assert budget.due(1) and not budget.due(0) and not budget.due(20 - 1)


def test_a_batch_due_is_skipped_while_over_budget_within_the_epoch() -> None:
    clock = Clock()
    budget = SamplingBudget(stats_every=2, max_samples=8, overhead_budget=0.5, clock=clock)
    assert budget.due(1)
    clock.now += 1.0
    budget.sampled(0.0)  # a sample that took 1 s: over half of the 1 s epoch so far
    assert not budget.due(3)
    clock.now += 1.0  # 2 s into the epoch: 1 s spent is within half of it again
    assert budget.due(5)
    assert not budget.due(4)  # not 1 + a multiple of the stride


def test_wall_clock_only_when_the_caller_did_not_choose_one() -> None:
    chosen = Clock()
    budget = SamplingBudget(1, 8, 0.01, clock=chosen)
    budget.use_wall_clock()
    chosen.now = 42.0
    assert budget.now() == 42.0
    default = SamplingBudget(1, 8, 0.01)
    default.use_wall_clock()
    assert default.now() == pytest.approx(__import__("time").perf_counter(), abs=1.0)


def test_sampling_starts_at_batch_1_unless_epochs_have_a_single_batch() -> None:
    """Batch 0 of the first epoch has seen no update: batch 1 shows the training. An epoch
    of one batch (full-batch training) has no batch 1: the next epochs sample batch 0."""
    budget = SamplingBudget(stats_every=4, max_samples=8, overhead_budget=None, clock=Clock())
    assert [b for b in range(10) if budget.due(b)] == [1, 5, 9]
    budget.end_epoch(batches=1, flush_began=0.0)
    assert [b for b in range(6) if budget.due(b)] == [0, 4]
    budget.end_epoch(batches=0, flush_began=0.0)  # no training batch: nothing learnt
    assert budget.due(0)
    budget.end_epoch(batches=6, flush_began=0.0)
    assert [b for b in range(6) if budget.due(b)] == [1, 5]


# ------------------------------------------------------------------ the every-batch check
def test_the_first_batches_of_every_epoch_are_always_checked() -> None:
    from bttackler.trialside.probe_budget import CheckBudget

    now = [0.0]
    budget = CheckBudget(0.01, first=3, clock=lambda: now[0])
    budget.spent(100.0)  # far over budget
    assert [budget.due(b) for b in range(5)] == [True, True, True, False, False]
    budget.start_epoch()
    budget.spent(100.0)
    assert budget.due(0) and budget.due(2) and not budget.due(3)


def test_checks_go_on_while_they_fit_in_their_share_of_the_epoch() -> None:
    from bttackler.trialside.probe_budget import CheckBudget

    now = [0.0]
    budget = CheckBudget(0.01, first=0, clock=lambda: now[0])
    now[0] = 1.0
    budget.spent(0.005)
    assert budget.due(10)  # 5 ms of 1 s: within 1%
    budget.spent(0.01)
    assert not budget.due(11)  # 15 ms of 1 s: over
    now[0] = 2.0
    assert budget.due(12)  # 15 ms of 2 s: within again
    assert CheckBudget(None, first=0).due(10**6)


def test_check_budget_arguments_are_validated() -> None:
    import pytest

    from bttackler.trialside.probe_budget import CheckBudget

    with pytest.raises(ValueError, match="check_budget"):
        CheckBudget(0.0)
    with pytest.raises(ValueError, match="check_first"):
        CheckBudget(0.01, first=-1)
