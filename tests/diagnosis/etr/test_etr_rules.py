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
    running_average,
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
    return MSR(MedianStopSettings(**settings), objective="val_acc", mode=mode)


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


def test_lce_refuses_minimised_objectives() -> None:
    with pytest.raises(ValueError, match="^mode must be 'max' for LCE"):
        LCE(objective="mse", mode="min")


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
