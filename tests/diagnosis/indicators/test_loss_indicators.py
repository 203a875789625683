"""PLC, ULC, NMG on hand-built loss series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bttackler.core.history import EpochRecord, TrialHistory
from bttackler.diagnosis.indicators import (
    NMG,
    PLC,
    ULC,
    NoMoreGainSettings,
    PassiveLossChangesSettings,
    UnexpectedLossChangesSettings,
    adaptive_window,
    loss_trend,
    relative_loss_change,
    window_gain,
)
from bttackler.diagnosis.indicators._loss import (
    first_finite,
    lower_of_train_and_val,
    plateau_epochs,
)


def history(losses: list[float], *, max_epochs: int = 20) -> TrialHistory:
    epochs = tuple(
        EpochRecord(epoch=i, metrics={"train_loss": loss}) for i, loss in enumerate(losses)
    )
    return TrialHistory(trial_id=1, params={}, max_epochs=max_epochs, epochs=epochs)


def converged(n: int, floor: float = 0.2, wobble: float = 0.05, seed: int = 0) -> list[float]:
    """A loss that fell to ``floor`` and wobbles up to +-``wobble`` (relative) around it."""
    rng = np.random.default_rng(seed)
    head = [2.3 * 0.6**i + floor for i in range(n // 2)]
    tail = (floor * (1 + rng.uniform(-wobble, wobble, n - len(head)))).tolist()
    return head + tail


# ---- PLC --------------------------------------------------------------------------------


def test_relative_loss_change() -> None:
    assert relative_loss_change([2.0, 1.0, 2.0]) == pytest.approx(0.5)
    assert relative_loss_change([2.0]) is None
    assert relative_loss_change([0.0, 1.0]) is None
    assert relative_loss_change([1.0, math.nan]) is None


def test_plc_fires_on_flat_loss() -> None:
    v = PLC().check(history([2.3026, 2.3025, 2.3026], max_epochs=10))
    assert v is not None and v.indicator == "PLC" and v.epoch == 3  # the third epoch
    assert v.values["relative_change"] < 0.001


def test_plc_quiet_on_learning_loss() -> None:
    assert PLC().check(history([2.3, 1.5, 1.0, 0.8])) is None


def test_plc_at_threshold_does_not_fire() -> None:
    h = history([1.0, 0.5, 1.0], max_epochs=10)  # mean |change| / first = 0.5 exactly
    assert PLC(PassiveLossChangesSettings(tolerance=0.5)).check(h) is None
    assert PLC(PassiveLossChangesSettings(tolerance=0.5001)).check(h) is not None


def test_plc_needs_min_epochs_and_early_stage_and_finite_loss() -> None:
    assert PLC().check(history([2.3, 2.3], max_epochs=10)) is None  # 2 < min_epochs 3
    two = PassiveLossChangesSettings(min_epochs=2)
    assert PLC(two).check(history([2.3, 2.3], max_epochs=10)) is not None
    assert PLC().check(history([2.3] * 11, max_epochs=20)) is None  # 11 > 10: late
    assert PLC().check(history([2.3] * 10, max_epochs=20)) is not None
    assert PLC().check(history([2.3, math.nan, 2.3], max_epochs=10)) is None


def test_plc_gives_a_plateau_a_share_of_the_planned_epochs() -> None:
    # diabetesmlp trial 27 (random seed 1), 40 epochs: it moved 0.08% per epoch for four
    # epochs, broke out at epoch 6 and ended 9th of its run.
    t27 = [1.00407, 1.00348, 1.00255, 1.0018, 0.99839, 0.976, 0.9039, 0.78164]
    assert all(PLC().check(history(t27[:n], max_epochs=40)) is None for n in range(1, 9))
    assert PLC().check(history([1.004] * 8, max_epochs=40)) is not None  # still flat at 8
    assert PLC().check(history([1.004] * 7, max_epochs=40)) is None
    assert PLC().check(history([2.3] * 3, max_epochs=20)) is None  # 20 epochs: from 4
    assert PLC().check(history([2.3] * 4, max_epochs=20)) is not None
    assert plateau_epochs(3, 0.2, 10) == 3
    assert plateau_epochs(3, 0.2, 40) == 8


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("tolerance", 0),
        ("tolerance", -1.0),
        ("min_epochs", 1),
        ("min_epochs", 2.5),
        ("min_fraction", 1.0),
        ("min_fraction", -0.1),
    ],
)
def test_plc_settings_validate(field: str, bad: object) -> None:
    with pytest.raises(ValueError, match=field):
        PassiveLossChangesSettings(**{field: bad})  # type: ignore[arg-type]


# ---- windows ----------------------------------------------------------------------------


def test_adaptive_window() -> None:
    assert adaptive_window(20, 0.3, 5) == 6
    assert adaptive_window(10, 0.3, 3) == 3  # 0.3 * 10 is 3.0000000000000004 in floats
    assert adaptive_window(10, 0.3, 5) == 5
    assert adaptive_window(100, 0.3, 5) == 30


# ---- ULC --------------------------------------------------------------------------------


def test_loss_trend_relative_to_reference() -> None:
    slope, fluct = loss_trend([1.0, 0.8, 0.6, 0.4, 0.2], 2.0) or (0, 0)
    assert slope == pytest.approx(-0.1) and fluct == pytest.approx(0, abs=1e-12)
    _, fluct = loss_trend([1.0, 2.0, 1.0, 2.0], 4.0) or (0, 0)  # 3 steps of 1, net 1
    assert fluct == pytest.approx(2.0 / (2 * 3) / 4.0)
    slope, _ = loss_trend([-1.0, 0.0, 1.0, 2.0], -2.0) or (0, 0)  # divided by |reference|
    assert slope == pytest.approx(0.5)
    assert loss_trend([1.0, 2.0], 1.0) is None
    assert loss_trend([1.0, math.inf, 1.0], 1.0) is None
    assert loss_trend([1.0, 1.0, 1.0], 0.0) is None
    assert loss_trend([1.0, 1.0, 1.0], math.nan) is None


def test_loss_trend_ignores_a_wobble_at_a_small_floor() -> None:
    # the case that killed good trials on log(loss): 0.005 -> 0.008 is +60%, but 0.1% of 2.3
    window = [0.005, 0.006, 0.005, 0.007, 0.006, 0.008]
    slope, fluct = loss_trend(window, 2.3) or (1.0, 1.0)
    assert 0 < slope < 0.001 and fluct < 0.001


def test_first_finite() -> None:
    assert first_finite([math.nan, math.inf, 2.0, 1.0]) == 2.0
    assert first_finite([math.nan]) is None


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("floor", [0.005, 0.2, 0.6])
def test_ulc_leaves_a_converged_wobbling_loss_alone(seed: int, floor: float) -> None:
    losses = converged(20, floor=floor, wobble=0.3, seed=seed)  # +-30%, at any floor
    for n in range(11, 21):
        assert ULC().check(history(losses[:n])) is None


def test_ulc_leaves_recorded_good_trials_alone() -> None:
    # train_loss of two digits-CNN trials the log-loss ULC killed (val_acc 0.98 and 0.94)
    trial4 = [1.781, 0.5931, 0.2412, 0.1644, 0.1065, 0.1138, 0.0767, 0.0713, 0.0519, 0.0386]
    trial4 += [0.0425, 0.0494, 0.0441, 0.0273, 0.0302, 0.0360, 0.0292, 0.0443, 0.0361]
    trial6 = [1.610, 0.4465, 0.2293, 0.1146, 0.0885, 0.0773, 0.0810, 0.0564, 0.0646, 0.0687]
    trial6 += [0.0541, 0.0366, 0.0447, 0.0752, 0.2002]
    for losses in (trial4, trial6):
        for n in range(11, len(losses) + 1):
            assert ULC().check(history(losses[:n])) is None
    slope, _ = loss_trend(trial6[-6:], trial6[0]) or (1.0, 1.0)
    assert slope == pytest.approx(0.0129, abs=1e-4)


def with_val(train: list[float], val: list[float], *, max_epochs: int = 20) -> TrialHistory:
    epochs = tuple(
        EpochRecord(epoch=i, metrics={"train_loss": t, "val_loss": v})
        for i, (t, v) in enumerate(zip(train, val))
    )
    return TrialHistory(trial_id=1, params={}, max_epochs=max_epochs, epochs=epochs)


# Two trials of the benchmark's digits-wide runs that ULC killed and that ended in their
# run's top 10: an rmsprop CNN whose training loss spiked for one epoch (epoch 15) while its
# validation loss was back at 0.16, and a CNN with dropout 0.88 whose training loss rose for
# four epochs (epochs 8-12) while its validation loss stayed at 0.18-0.59.
SPIKE_TRAIN = [4.844, 1.658, 0.5832, 0.1808, 0.4847, 0.1052, 0.0375, 0.0361, 0.0147, 0.0059,
               0.0026, 0.0015, 0.0015, 0.0841, 1.5057]  # fmt: skip
SPIKE_VAL = [2.182, 1.149, 0.4952, 0.1931, 0.2718, 0.1341, 0.1193, 0.1046, 0.1007, 0.1015,
             0.1009, 0.0969, 0.1004, 2.4352, 0.1603]  # fmt: skip
DROPOUT_TRAIN = [1.8325, 1.0559, 0.6353, 0.5196, 0.5546, 0.5608, 0.3957, 0.2553, 0.3619,
                 0.4534, 0.6784, 0.7851]  # fmt: skip
DROPOUT_VAL = [0.6898, 0.5739, 0.5105, 0.5662, 0.1566, 0.2593, 0.2508, 0.3007, 0.1760,
               0.5928, 0.4119, 0.3427]  # fmt: skip


@pytest.mark.parametrize(("train", "val"), [(SPIKE_TRAIN, SPIKE_VAL), (DROPOUT_TRAIN, DROPOUT_VAL)])
def test_ulc_judges_the_lower_of_train_and_val_loss(train: list[float], val: list[float]) -> None:
    assert ULC().check(history(train)) is not None  # the training loss alone: killed
    assert ULC().check(with_val(train, val)) is None
    # a model that really got worse has both up
    assert ULC().check(with_val(train, [t + 0.1 for t in train])) is not None


def test_lower_of_train_and_val() -> None:
    assert lower_of_train_and_val([1.0, 2.0, 3.0], [0.5, math.nan, 4.0]) == [0.5, 2.0, 3.0]
    nan_train = lower_of_train_and_val([math.nan], [0.5])
    assert math.isnan(nan_train[0])  # a NaN training loss stays: AGV's symptom


def test_ulc_quiet_on_a_loss_still_falling_geometrically() -> None:
    losses = [2.3 * 0.6**i for i in range(20)]
    for n in range(11, 21):
        assert ULC().check(history(losses[:n])) is None


def test_ulc_quiet_on_a_sharp_drop_then_plateau() -> None:
    # e.g. a learning-rate step late in training: falling is never a fluctuation
    losses = [1.0 * 0.9**i for i in range(12)] + [0.3, 0.06, 0.03, 0.03, 0.03, 0.03]
    for n in range(11, 19):
        assert ULC().check(history(losses[:n])) is None
    assert loss_trend(losses[-6:], losses[0]) == (pytest.approx(-0.288 / 7), 0.0)


def test_ulc_fires_on_a_loss_climbing_back() -> None:
    # converged at 0.1, then diverging: +0.1 an epoch is 4.3% of the initial 2.3 per epoch
    losses = [2.3 * 0.7**i + 0.1 for i in range(12)] + [0.1 + 0.1 * i for i in range(1, 7)]
    v = ULC().check(history(losses))
    assert v is not None and v.indicator == "ULC" and "rising" in v.rule
    assert v.values["window"] == 6.0 and v.values["initial_loss"] == pytest.approx(2.4)
    assert v.values["relative_slope"] == pytest.approx(0.1 / 2.4)


def test_ulc_fires_on_a_late_oscillation_between_two_levels() -> None:
    losses = [2.3 * 0.7**i + 0.3 for i in range(12)] + [0.3, 1.0] * 3  # 0.7 apart: 27% of 2.6
    v = ULC().check(history(losses))
    assert v is not None and "fluctuation" in v.rule
    assert v.values["relative_fluctuation"] == pytest.approx(0.4 * 0.7 / 2.6)
    assert v.values["relative_slope"] < UnexpectedLossChangesSettings().slope_tolerance
    small = [2.3 * 0.7**i + 0.3 for i in range(12)] + [0.3, 0.5] * 3  # 0.2 apart: 8%
    assert ULC().check(history(small)) is None


def test_ulc_at_threshold_does_not_fire() -> None:
    losses = [2.0] + [1.0] * 11 + [1.0, 1.1, 1.2, 1.3, 1.4, 1.5]
    slope, _ = loss_trend(losses[-6:], 2.0) or (0.0, 0.0)
    assert slope == pytest.approx(0.05)
    at = UnexpectedLossChangesSettings(slope_tolerance=slope, fluctuation_tolerance=1.0)
    below = UnexpectedLossChangesSettings(slope_tolerance=slope * 0.999, fluctuation_tolerance=1.0)
    assert ULC(at).check(history(losses)) is None
    assert ULC(below).check(history(losses)) is not None
    bouncing = [2.0] + [1.0] * 11 + [1.0, 1.4, 1.0, 1.4, 1.0, 1.4]
    _, fluct = loss_trend(bouncing[-6:], 2.0) or (0.0, 0.0)
    at = UnexpectedLossChangesSettings(slope_tolerance=1.0, fluctuation_tolerance=fluct)
    below = UnexpectedLossChangesSettings(slope_tolerance=1.0, fluctuation_tolerance=fluct * 0.999)
    assert ULC(at).check(history(bouncing)) is None
    assert ULC(below).check(history(bouncing)) is not None


def test_ulc_only_late_needs_window_and_skips_nan() -> None:
    rising = [0.2 * 1.3**i for i in range(18)]
    assert ULC().check(history(rising[:10])) is None  # early stage
    assert ULC().check(history(rising[:11])) is not None
    short = history([1.0, 2.0, 4.0, 8.0], max_epochs=4)  # late, but 4 < min_window 5
    assert ULC().check(short) is None
    assert ULC().check(history(rising[:17] + [math.nan])) is None  # NaN inside the window


def test_ulc_reference_is_the_first_finite_loss() -> None:
    rising = [0.2 * 1.3**i for i in range(18)]
    v = ULC().check(history([math.nan] + rising[1:]))  # a NaN before the window is skipped
    assert v is not None and v.values["initial_loss"] == rising[1]
    # a huge first loss makes the same rise negligible: the scale is the training run's
    assert ULC().check(history([1000.0] + rising[1:])) is None
    assert ULC().check(history([0.0] + rising[1:])) is None  # initial loss 0: no scale


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("window_fraction", 0.0),
        ("window_fraction", 1.5),
        ("min_window", 2),
        ("slope_tolerance", -0.1),
        ("fluctuation_tolerance", 0.0),
    ],
)
def test_ulc_settings_validate(field: str, bad: object) -> None:
    with pytest.raises(ValueError, match=field):
        UnexpectedLossChangesSettings(**{field: bad})  # type: ignore[arg-type]


# ---- NMG --------------------------------------------------------------------------------


def test_window_gain() -> None:
    assert window_gain([3.0, 1.0, 2.0, 2.0], 2) == (2.0, 1.0)
    assert window_gain([3.0, 1.0], 2) is None
    assert window_gain([3.0, math.nan, 1.0], 1) is None


def test_nmg_fires_benign_when_no_new_record_in_window() -> None:
    losses = [2.0, 1.0, 0.5, 0.3, 0.2, 0.1] + [0.11, 0.12, 0.105, 0.13, 0.11, 0.12]
    v = NMG().check(history(losses))
    assert v is not None and v.benign and v.indicator == "NMG"
    assert v.values["best_before"] == 0.1 and v.values["window_min"] == 0.105


def test_nmg_quiet_while_improving() -> None:
    losses = [2.0 * 0.9**i for i in range(15)]
    assert NMG().check(history(losses)) is None


def test_nmg_tie_with_old_record_does_not_fire() -> None:
    losses = [2.0, 1.0, 0.5, 0.3, 0.2, 0.1] + [0.1, 0.12, 0.12, 0.13, 0.11, 0.12]
    assert NMG().check(history(losses)) is None  # window min == overall min: paper says no


def test_nmg_min_relative_gain() -> None:
    losses = [2.0, 1.0, 0.5, 0.3, 0.2, 0.1] + [0.12, 0.12, 0.099, 0.13, 0.11, 0.12]
    assert NMG().check(history(losses)) is None  # a new record by 1%
    assert NMG(NoMoreGainSettings(min_relative_gain=0.02)).check(history(losses)) is not None
    # exactly at the required gain: a gain, not positive
    at = [2.0, 1.0, 0.5, 0.3, 0.2, 0.1] + [0.12, 0.12, 0.1 - 0.5 * 0.1, 0.13, 0.11, 0.12]
    assert NMG(NoMoreGainSettings(min_relative_gain=0.5)).check(history(at)) is None


def test_nmg_stage_window_and_nan() -> None:
    flat = [1.0, 0.5] + [0.6] * 16
    assert NMG().check(history(flat[:10])) is None  # early stage
    assert NMG().check(history(flat[:11])) is not None
    short = history([1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6], max_epochs=7)  # window 5
    assert NMG().check(short) is not None
    assert NMG().check(history([0.6] * 5, max_epochs=5)) is None  # nothing before the window
    assert NMG().check(history(flat[:16] + [math.nan])) is None


def test_nmg_on_a_trial_that_never_gained_is_a_problem_not_convergence() -> None:
    """A sigmoid net stuck at the uniform-guess loss (ln 10) has not converged."""
    losses = [2.3080, 2.3055, 2.3050, 2.3052, 2.3051] + [2.3060] * 8
    v = NMG().check(history(losses))
    assert v is not None and not v.benign
    assert "never gained" in v.rule
    assert v.values["gain_since_first"] < 0.01
