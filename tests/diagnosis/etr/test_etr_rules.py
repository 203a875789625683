"""LCE and MSR on hand-built histories of a running trial and of finished trials."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bttackler.core.history import EpochRecord, TrialHistory
from bttackler.diagnosis.etr import (
    LCE,
    MSR,
    LearningCurveSettings,
    MedianStopSettings,
    best_final_value,
    best_so_far,
    rising,
    running_average,
    unrising,
)

NAN = math.nan


def history(values: list[float], *, max_epochs: int = 20, trial_id: int = 1) -> TrialHistory:
    epochs = tuple(EpochRecord(epoch=i, metrics={"val_acc": v}) for i, v in enumerate(values))
    return TrialHistory(trial_id=trial_id, params={}, max_epochs=max_epochs, epochs=epochs)


def saturating(top: float, n: int) -> list[float]:
    """``top * (1 - 0.8 exp(-0.35 x))`` at x = 1..n with a fixed 0.004 zig-zag."""
    return [top * (1 - 0.8 * math.exp(-0.35 * x)) + 0.004 * (-1) ** x for x in range(1, n + 1)]


# --------------------------------------------------------------------------------------------
# MSR: finished running averages at 2 epochs are 0.5, 0.75 and 0.125, median 0.5.

FINISHED = [
    history([0.25, 0.75, 0.9], max_epochs=3, trial_id=10),
    history([0.5, 1.0, 1.0], max_epochs=3, trial_id=11),
    history([0.125, 0.125, 0.125], max_epochs=3, trial_id=12),
]


def msr(mode: str = "max", **settings: Any) -> MSR:
    """MSR with NNI's start (judge from the first epoch against any finished trial) unless
    ``settings`` say otherwise: the mechanism on three finished trials."""
    return MSR(
        MedianStopSettings(**{"start_step": 1, "min_finished": 1, **settings}),
        objective="val_acc",
        mode=mode,
    )


def test_msr_defaults_wait_like_optunas_median_pruner() -> None:
    default = MSR(objective="val_acc", mode="max")
    assert default.settings == MedianStopSettings(start_step=2, min_finished=5)
    bad = history([0.0, 0.0], max_epochs=3)
    assert msr().check(bad, FINISHED) is not None  # NNI's start: stopped
    assert default.check(bad, FINISHED) is None  # 3 finished trials < 5
    five = [*FINISHED, *(history(h.metric("val_acc"), max_epochs=3, trial_id=h.trial_id + 10)
                         for h in FINISHED[:2])]  # fmt: skip
    assert default.check(bad, five) is not None
    assert default.check(history([0.0], max_epochs=3), five) is None  # one epoch: too early


def test_msr_stops_a_trial_whose_best_is_below_the_median() -> None:
    verdict = msr().check(history([0.25, 0.375], max_epochs=3), FINISHED)
    assert verdict is not None
    assert verdict.indicator == "MSR"
    assert verdict.epoch == 1
    assert verdict.values["best"] == 0.375
    assert verdict.values["median"] == 0.5
    assert verdict.values["finished"] == 3
    assert verdict.rule == (
        "best val_acc 0.375 < median 0.5 of 3 finished trials' running averages at 2 epochs"
    )


def test_msr_keeps_a_trial_above_or_at_the_median() -> None:
    assert msr().check(history([0.25, 0.625], max_epochs=3), FINISHED) is None
    assert msr().check(history([0.5, 0.25], max_epochs=3), FINISHED) is None  # tie: kept


def test_msr_uses_the_running_average_at_the_same_epoch_count() -> None:
    # At 1 epoch the averages are 0.25, 0.5, 0.125: median 0.25.
    assert msr().check(history([0.25], max_epochs=3), FINISHED) is None
    verdict = msr().check(history([0.2], max_epochs=3), FINISHED)
    assert verdict is not None and verdict.values["median"] == 0.25


def test_msr_minimised_objective() -> None:
    # Losses: running averages at 2 epochs 0.75, 1.5, 0.25; median 0.75.
    finished = [history([1.0, 0.5]), history([2.0, 1.0]), history([0.5, 0.0])]
    verdict = msr("min").check(history([0.875, 0.8125]), finished)
    assert verdict is not None and verdict.rule.startswith("best val_acc 0.8125 > median 0.75")
    assert msr("min").check(history([0.875, 0.75]), finished) is None


def test_msr_too_early_or_without_finished_trials() -> None:
    trial = history([0.0, 0.0], max_epochs=3)
    assert msr(start_step=3).check(trial, FINISHED) is None
    assert msr().check(trial, []) is None
    assert msr(min_finished=4).check(trial, FINISHED) is None
    # Finished trials shorter than the trial's epoch count do not count.
    assert msr().check(history([0.0, 0.0, 0.0, 0.0]), FINISHED) is None


def test_msr_median_of_an_even_count() -> None:
    verdict = msr().check(history([0.25, 0.3], max_epochs=3), FINISHED[:2])
    assert verdict is not None and verdict.values["median"] == 0.625


def test_msr_nan_values() -> None:
    # NaN is ignored in the finished trials' averages: [nan, 0.75] averages 0.75.
    finished = [history([NAN, 0.75]), history([NAN, NAN]), history([0.25, 0.25])]
    assert running_average([NAN, 0.75], 2) == 0.75
    assert running_average([NAN, NAN], 2) is None
    verdict = msr().check(history([0.25, 0.375]), finished)  # median of 0.75 and 0.25
    assert verdict is not None and verdict.values["median"] == 0.5
    # ... and in the trial's own best.
    assert best_so_far([NAN, 0.5, 0.25], "max") == 0.5
    assert msr().check(history([NAN, 0.5]), finished) is None
    # A trial that reported only NaN is stopped once a median exists.
    verdict = msr().check(history([NAN, NAN]), finished)
    assert verdict is not None
    assert math.isnan(verdict.values["best"])
    assert verdict.rule.startswith("only NaN val_acc in 2 epochs; median 0.5")
    assert msr().check(history([NAN, NAN]), []) is None


def test_msr_infinite_loss_is_worse_than_any_median() -> None:
    assert running_average([1.0, math.inf], 2) == math.inf
    finished = [history([1.0, 0.5]), history([2.0, 1.0])]
    assert msr("min").check(history([math.inf, math.inf]), finished) is not None


@pytest.mark.parametrize("bad", [{"start_step": 0}, {"min_finished": 0}, {"start_step": 1.5}])
def test_msr_settings_are_validated(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=f"^{next(iter(bad))} must be"):
        MedianStopSettings(**bad)


def test_rules_validate_objective_and_mode() -> None:
    with pytest.raises(ValueError, match="^mode must be"):
        MSR(objective="val_acc", mode="maximize")
    with pytest.raises(ValueError, match="^objective must be"):
        MSR(objective="", mode="max")
    with pytest.raises(TypeError):
        MSR(LearningCurveSettings(), objective="val_acc", mode="max")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# LCE: the best finished trial ended at 0.97.

BEST = [history([0.5, 0.9, 0.97], trial_id=20), history([0.5, 0.8, 0.9], trial_id=21)]


def lce(**settings: Any) -> LCE:
    return LCE(LearningCurveSettings(**settings), objective="val_acc", mode="max")


def test_lce_stops_a_curve_heading_below_the_bar() -> None:
    verdict = lce().check(history(saturating(0.5, 10)), BEST)
    assert verdict is not None
    assert verdict.indicator == "LCE"
    assert verdict.epoch == 9
    assert verdict.values["predicted"] == pytest.approx(0.5, abs=0.05)
    assert verdict.values["best_final"] == 0.97
    assert verdict.rule.startswith("predicted final val_acc 0.5")
    assert verdict.rule.endswith("at epoch 20 < 0.95 x best 0.97 = 0.9215")


def test_lce_keeps_a_curve_heading_to_the_top() -> None:
    assert lce().check(history(saturating(0.98, 10)), BEST) is None


def test_lce_threshold() -> None:
    # A curve heading to 0.9: below 0.95 x 0.97 = 0.92, above 0.9 x 0.97 = 0.87.
    assert lce().check(history(saturating(0.9, 12)), BEST) is not None
    assert lce(threshold=0.9).check(history(saturating(0.9, 12)), BEST) is None


def test_lce_judges_from_start_step_every_gap_epochs() -> None:
    assert lce().check(history(saturating(0.5, 5)), BEST) is None  # too few points
    assert lce().check(history(saturating(0.5, 6)), BEST) is not None
    assert lce(start_step=10).check(history(saturating(0.5, 9)), BEST) is None
    assert lce(gap=2).check(history(saturating(0.5, 7)), BEST) is None
    assert lce(gap=2).check(history(saturating(0.5, 8)), BEST) is not None


def test_lce_needs_a_finished_trial_and_an_unfinished_one() -> None:
    trial = history(saturating(0.5, 10))
    assert lce().check(trial, []) is None
    assert lce().check(trial, [history([0.5, NAN])]) is None  # a NaN final does not count
    assert best_final_value([history([0.5, NAN]), history([0.9, 0.95])], "val_acc") == 0.95
    assert lce().check(history(saturating(0.5, 20)), BEST) is None  # at its last epoch


def test_lce_nan_values() -> None:
    values = saturating(0.5, 10)
    values[2] = NAN
    values[9] = NAN  # the newest epoch too
    verdict = lce().check(history(values), BEST)
    assert verdict is not None and math.isnan(verdict.values["last"])
    assert lce().check(history([NAN] * 10), BEST) is None  # nothing to fit: kept


def test_rising_transform() -> None:
    assert [rising(v) for v in (0.0, 1.0, 3.0)] == [1.0, 0.5, 0.25]
    assert all(math.isnan(rising(v)) for v in (NAN, math.inf, -0.5))
    assert unrising(0.25) == 3.0 and unrising(0.0) == math.inf


def mse_history(values: list[float], trial_id: int = 1) -> TrialHistory:
    epochs = tuple(EpochRecord(epoch=i, metrics={"mse": v}) for i, v in enumerate(values))
    return TrialHistory(trial_id=trial_id, params={}, max_epochs=20, epochs=epochs)


def falling(floor: float, n: int) -> list[float]:
    """A loss curve from 1 levelling off at ``floor``, with a fixed 0.002 zig-zag."""
    return [floor + (1 - floor) * math.exp(-0.35 * x) + 0.002 * (-1) ** x for x in range(1, n + 1)]


def test_lce_minimised_objective_is_judged_on_its_rising_transform() -> None:
    rule = LCE(objective="mse", mode="min")
    finished = [mse_history([1.0, 0.6, 0.3], 20), mse_history([1.0, 0.8, 0.5], 21)]
    assert best_final_value(finished, "mse", "min") == 0.3
    # Levelling off at 0.7: 1/1.7 = 0.59 < 0.95 x 1/1.3 = 0.73, stopped.
    verdict = rule.check(mse_history(falling(0.7, 10)), finished)
    assert verdict is not None and verdict.indicator == "LCE"
    assert verdict.values["predicted"] == pytest.approx(0.7, abs=0.1)
    assert verdict.values["best_final"] == 0.3
    assert verdict.rule.startswith("predicted final mse 0.")
    assert "> 0.3684 (1/(1+x) below 0.95 x that of best 0.3)" in verdict.rule
    # Heading below the best final value: kept.
    assert rule.check(mse_history(falling(0.2, 10)), finished) is None
    # A diverged (infinite, NaN) tail is left out of the fit like NaN for a maximised one.
    assert rule.check(mse_history([*falling(0.2, 8), math.inf, NAN]), finished) is None


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"start_step": 0}, "start_step"),
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": math.inf}, "threshold"),
        ({"gap": 0}, "gap"),
        ({"lower": 1.0}, "upper"),
        ({"upper": NAN}, "upper"),
        ({"min_models": 0}, "min_models"),
    ],
)
def test_lce_settings_are_validated(bad: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field} must be"):
        LearningCurveSettings(**bad)
