"""ASHA and Hyperband: rung arithmetic and promotions computed by hand on small cohorts."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from bttackler.core.history import EpochRecord, TrialHistory
from bttackler.diagnosis.etr import (
    Hyperband,
    HyperbandSettings,
    SuccessiveHalving,
    SuccessiveHalvingSettings,
    bracket_budgets,
    bracket_of,
    promotable,
    rung_of,
)

NAN = math.nan


def history(values: list[float], *, trial_id: int, max_epochs: int = 10) -> TrialHistory:
    epochs = tuple(EpochRecord(epoch=i + 1, metrics={"acc": v}) for i, v in enumerate(values))
    return TrialHistory(trial_id=trial_id, params={}, max_epochs=max_epochs, epochs=epochs)


def cohort(firsts: list[float]) -> list[TrialHistory]:
    """Trials 1..n that reached epoch 1 with these values."""
    return [history([v], trial_id=i + 1) for i, v in enumerate(firsts)]


ASHA = SuccessiveHalving(objective="acc", mode="max")  # min_resource 1, rf 4, rate 0


def test_rungs_are_at_min_resource_times_powers_of_the_reduction_factor() -> None:
    assert [c for c in range(1, 70) if rung_of(c, 1, 4, 0) is not None] == [1, 4, 16, 64]
    assert [rung_of(c, 1, 4, 0) for c in (1, 4, 16)] == [0, 1, 2]
    assert [c for c in range(1, 30) if rung_of(c, 1, 4, 1) is not None] == [4, 16]
    assert [c for c in range(1, 30) if rung_of(c, 2, 3, 0) is not None] == [2, 6, 18]


def test_promotion_keeps_the_best_quarter_and_the_best_of_fewer_than_four() -> None:
    assert promotable(0.5, [0.5], 4, "max")  # alone: the best
    assert not promotable(0.4, [0.5, 0.4], 4, "max")  # fewer than 4: must be the best
    # 8 competitors: 8 // 4 = 2 go on, the bar is the second best
    others = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    assert promotable(0.62, [*others, 0.62], 4, "max")
    assert not promotable(0.55, [*others, 0.55], 4, "max")
    assert promotable(0.2, [0.9, 0.2, 0.5, 0.3], 4, "min")
    assert not promotable(0.3, [0.9, 0.2, 0.5, 0.3], 4, "min")


def test_asha_judges_at_rungs_against_every_trial_that_reached_them() -> None:
    seen = cohort([0.5, 0.6, 0.4])
    v = ASHA.check(history([0.55], trial_id=9), seen)
    assert v is not None and v.indicator == "ASHA" and v.epoch == 1
    assert v.rule == (
        "acc 0.55 < 0.6 at rung 0 (epoch 1): not among the best 1 of 4 trials there (1/4 go on)"
    )
    assert v.values["bar"] == 0.6 and v.values["reached"] == 4
    assert ASHA.check(history([0.65], trial_id=9), seen) is None
    assert ASHA.check(history([0.55, 0.5], trial_id=9), seen) is None  # epoch 2: no rung
    # at rung 1 (epoch 4) only the trials with 4 epochs compete: here none, so it goes on
    assert ASHA.check(history([0.7, 0.1, 0.1, 0.1], trial_id=9), seen) is None
    # its own earlier record in the cohort is not a competitor
    assert ASHA.check(history([0.5], trial_id=1), seen[:1]) is None


def test_asha_first_trials_the_end_and_nan() -> None:
    assert ASHA.check(history([0.1], trial_id=1), []) is None  # the first trial goes on
    assert ASHA.check(history([0.1], trial_id=2), cohort([0.5])) is not None
    ended = history([0.1] * 4, trial_id=9, max_epochs=4)
    assert ASHA.check(ended, [history([0.9] * 4, trial_id=1)]) is None  # nothing left to save
    v = ASHA.check(history([NAN], trial_id=9), cohort([NAN, 0.2]))
    assert v is not None and v.rule == "NaN acc at rung 0 (epoch 1)"
    assert ASHA.check(history([0.3], trial_id=9), cohort([NAN, 0.2])) is None  # NaN: no rival


def test_asha_for_a_minimised_objective_and_bootstrap_count() -> None:
    loss = SuccessiveHalving(objective="acc", mode="min")
    v = loss.check(history([0.3], trial_id=9), cohort([0.2, 0.4, 0.5]))
    assert v is not None and v.rule.startswith("acc 0.3 > 0.2 at rung 0 (epoch 1)")
    boot = SuccessiveHalving(SuccessiveHalvingSettings(bootstrap_count=3), objective="acc",
                             mode="max")  # fmt: skip
    v = boot.check(history([0.9], trial_id=9), cohort([0.5, 0.6]))
    assert v is not None and "fewer than bootstrap_count" in v.rule


def test_hyperband_budgets_match_optuna_allocation() -> None:
    # n = floor(log_3(10)) + 1 = 3: ceil(3*9/3), ceil(3*3/2), ceil(3*1/1)
    assert bracket_budgets(10, 1, 3) == (9, 5, 3)
    assert bracket_budgets(9, 1, 3) == (9, 5, 3)  # log_3(9) is 2, not 1.999...
    assert bracket_budgets(27, 1, 3) == (27, 12, 6, 4)
    assert bracket_budgets(2, 1, 3) == (1,)  # one bracket: plain successive halving


def test_brackets_are_deterministic_and_follow_the_budgets() -> None:
    budgets = (9, 5, 3)
    counts = Counter(bracket_of(i, budgets) for i in range(1, 1701))
    assert [bracket_of(i, budgets) for i in range(1, 20)] == [
        bracket_of(i, budgets) for i in range(1, 20)
    ]
    for bracket, budget in enumerate(budgets):
        assert counts[bracket] == pytest.approx(1700 * budget / 17, rel=0.15)


def test_hyperband_compares_within_the_bracket_at_its_rungs() -> None:
    budgets = bracket_budgets(10, 1, 3)
    by_bracket: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for i in range(1, 200):
        by_bracket[bracket_of(i, budgets)].append(i)
    hb = Hyperband(objective="acc", mode="max")
    one, other = by_bracket[1], by_bracket[0]
    # bracket 1: min_early_stopping_rate 1, so its first rung is at epoch 3
    rivals = [history([0.9, 0.9, 0.9], trial_id=t) for t in one[:2]]
    strangers = [history([0.1, 0.1, 0.1], trial_id=t) for t in other[:5]]
    assert hb.check(history([0.5], trial_id=one[2]), rivals) is None  # epoch 1: no rung
    v = hb.check(history([0.5, 0.5, 0.5], trial_id=one[2]), rivals + strangers)
    assert v is not None and v.indicator == "HB"
    assert "at rung 0 of bracket 1 (epoch 3)" in v.rule and "best 1 of 3 trials" in v.rule
    # bracket 0's trial at epoch 3 meets only bracket 0's (worse) trials: it goes on
    assert hb.check(history([0.5, 0.5, 0.5], trial_id=other[5]), rivals + strangers) is None


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="reduction_factor"):
        SuccessiveHalvingSettings(reduction_factor=1)
    with pytest.raises(ValueError, match="min_resource"):
        HyperbandSettings(min_resource=0)
