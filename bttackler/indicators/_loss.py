"""Training-loss indicators: PLC (passive, early), ULC (unexpected, late), NMG (no more gain).

All three read the ``train_loss`` series (one value per recorded epoch, NaN where an epoch did
not report it). A NaN or infinite loss in the part of the series a rule reads means the rule
has no verdict: a non-finite loss is AGV's symptom, reported there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bttackler.history import TrialHistory
from bttackler.indicators._base import (
    Indicator,
    adaptive_window,
    all_finite,
    check_fraction,
    check_in_unit_interval_open_top,
    check_int_at_least,
    check_non_negative,
    check_positive,
    fmt,
)
from bttackler.verdict import Verdict

LOSS = "train_loss"


def relative_loss_change(losses: Sequence[float]) -> float | None:
    """PLC's measure: ``mean(|loss[i+1] - loss[i]|) / |loss[0]|``.

    ``None`` with fewer than two values, a non-finite value, or ``loss[0] == 0``.
    """
    if len(losses) < 2 or not all_finite(losses) or losses[0] == 0:
        return None
    steps = np.abs(np.diff(np.asarray(losses, dtype=float)))
    return float(np.mean(steps) / abs(losses[0]))


def loss_trend(losses: Sequence[float]) -> tuple[float, float] | None:
    """ULC's measures over a window: ``(relative slope per epoch, relative fluctuation)``.

    Both are taken on ``log(loss)``, so they are relative: 0.05 is about 5% of the loss.

    * slope: of the least-squares line through ``log(loss)`` against the epoch index (the
      paper's linear regression): the loss's relative growth per epoch.
    * fluctuation: the mean size, per epoch step, of the moves that go against the window's
      net direction: ``(sum |step| - |sum step|) / (2 * (len - 1))``. A loss that only falls,
      however sharply and however it bends (a geometric decay, a learning-rate step followed
      by a plateau), has fluctuation 0; a loss jumping every epoch between two levels 40%
      apart scores about 0.13, 65% apart about 0.2; a converged loss wobbling +-5% at most
      0.04. (Regression residuals
      were tried first and rejected: a drop followed by a plateau has residuals of 0.3-0.5.)

    When a loss in the window is <= 0 (log undefined), the raw loss is used and both numbers
    are divided by ``|mean(window)|`` instead.

    ``None`` with fewer than three values, a non-finite value, or a zero mean.
    """
    if len(losses) < 3 or not all_finite(losses):
        return None
    y = np.asarray(losses, dtype=float)
    scale = 1.0
    if np.all(y > 0):
        y = np.log(y)
    else:
        scale = abs(float(np.mean(y)))
        if scale == 0:
            return None
    x = np.arange(len(y), dtype=float)
    slope = float(np.polyfit(x, y, 1)[0])
    steps = np.diff(y)
    fluctuation = float(np.sum(np.abs(steps)) - abs(np.sum(steps))) / (2 * (len(y) - 1))
    return slope / scale, fluctuation / scale


# --------------------------------------------------------------------------------------------
# PLC


@dataclass(frozen=True, kw_only=True)
class PassiveLossChangesSettings:
    """Settings of :class:`PassiveLossChanges`.

    Attributes:
        tolerance: PLC fires when the mean absolute epoch-to-epoch change of the training loss,
            divided by the first loss, is below it (strictly). Default 0.001: the paper's 0.1%.
        min_epochs: Epochs needed before PLC judges (at least 2 for one change). Default 3:
            two changes, so one flat step alone never condemns a trial.
    """

    tolerance: float = 0.001
    min_epochs: int = 3

    def __post_init__(self) -> None:
        check_positive("tolerance", self.tolerance)
        check_int_at_least("min_epochs", self.min_epochs, 2)


class PassiveLossChanges(Indicator[PassiveLossChangesSettings]):
    """PLC, early stage: the training loss barely moves, so the optimizer has no effect.

    Positive when :func:`relative_loss_change` of the whole ``train_loss`` series is below
    ``tolerance`` (at it: not positive), once ``min_epochs`` epochs are recorded. NaN or
    infinite loss anywhere in the series, or a first loss of exactly 0: no verdict.
    """

    short_name = "PLC"
    stage = "early"
    guarded = True
    settings_type = PassiveLossChangesSettings

    def judge(self, history: TrialHistory) -> Verdict | None:
        losses = history.metric(LOSS)
        if len(losses) < self.settings.min_epochs:
            return None
        change = relative_loss_change(losses)
        tol = self.settings.tolerance
        if change is None or not change < tol:
            return None
        return Verdict(
            indicator=self.short_name,
            rule=f"mean loss change / first loss {fmt(change)} < {fmt(tol)} "
            f"over {len(losses)} epochs",
            epoch=history.epochs[-1].epoch,
            values={"relative_change": change, "tolerance": tol, "first_loss": losses[0]},
        )


# --------------------------------------------------------------------------------------------
# ULC


@dataclass(frozen=True, kw_only=True)
class UnexpectedLossChangesSettings:
    """Settings of :class:`UnexpectedLossChanges`.

    Attributes:
        window_fraction: The window is ``ceil(window_fraction * max_epochs)`` epochs. Default
            0.3: the authors' code used a 6-epoch window for 20-epoch trials.
        min_window: Smallest window, in epochs (at least 3).
            Default 5: on fewer points a few-percent wobble can fake a slope.
        slope_tolerance: Positive when the loss grows faster than this relative rate per epoch
            (strictly). Default 0.05 (+5% an epoch, +22% over 5 epochs): a converged loss
            wobbling +-5% fits a slope of at most 0.03 over 5 epochs.
        fluctuation_tolerance: Positive when the fluctuation of :func:`loss_trend` (mean
            move against the trend per epoch, relative to the loss) exceeds this (strictly).
            Default 0.2, the number of the authors' ``p_ho2`` (there a coefficient of
            variation): a loss jumping every epoch between levels about 65% apart; a converged
            loss wobbling +-5% scores at most 0.04, a falling one 0.
    """

    window_fraction: float = 0.3
    min_window: int = 5
    slope_tolerance: float = 0.05
    fluctuation_tolerance: float = 0.2

    def __post_init__(self) -> None:
        check_fraction("window_fraction", self.window_fraction)
        check_int_at_least("min_window", self.min_window, 3)
        check_non_negative("slope_tolerance", self.slope_tolerance)
        check_positive("fluctuation_tolerance", self.fluctuation_tolerance)


class UnexpectedLossChanges(Indicator[UnexpectedLossChangesSettings]):
    """ULC, late stage: the training loss rises or swings instead of settling.

    Over the latest ``max(min_window, ceil(window_fraction * max_epochs))`` epochs,
    :func:`loss_trend` gives the relative slope and fluctuation; positive when the slope is
    above ``slope_tolerance`` or the fluctuation above ``fluctuation_tolerance`` (at either
    tolerance: not positive). Fewer epochs than the window, or a NaN/infinite loss inside it:
    no verdict.
    """

    short_name = "ULC"
    stage = "late"
    guarded = False
    settings_type = UnexpectedLossChangesSettings

    def judge(self, history: TrialHistory) -> Verdict | None:
        s = self.settings
        window = adaptive_window(history.max_epochs, s.window_fraction, s.min_window)
        losses = history.metric(LOSS)
        if len(losses) < window:
            return None
        trend = loss_trend(losses[-window:])
        if trend is None:
            return None
        slope, fluctuation = trend
        values = {
            "relative_slope": slope,
            "relative_fluctuation": fluctuation,
            "window": float(window),
        }
        if slope > s.slope_tolerance:
            rule = f"loss rising {fmt(slope)}/epoch > {fmt(s.slope_tolerance)} over {window} epochs"
        elif fluctuation > s.fluctuation_tolerance:
            rule = (
                f"loss fluctuation {fmt(fluctuation)} > {fmt(s.fluctuation_tolerance)} "
                f"over {window} epochs"
            )
        else:
            return None
        return Verdict(
            indicator=self.short_name, rule=rule, epoch=history.epochs[-1].epoch, values=values
        )


# --------------------------------------------------------------------------------------------
# NMG


def window_gain(losses: Sequence[float], window: int) -> tuple[float, float] | None:
    """``(min of the last window, min before it)``; ``None`` when nothing precedes the window
    or a value is non-finite."""
    if window < 1 or len(losses) <= window or not all_finite(losses):
        return None
    return min(losses[-window:]), min(losses[:-window])


@dataclass(frozen=True, kw_only=True)
class NoMoreGainSettings:
    """Settings of :class:`NoMoreGain`.

    Attributes:
        window_fraction: As for ULC. Default 0.3 (the authors' 6 of 20 epochs).
        min_window: Smallest window in epochs. Default 5, as ULC.
        min_relative_gain: The window counts as a gain only when its minimum beats the best
            loss before it by more than this share of that loss. Default 0.0: the paper's
            strict rule (window minimum > overall minimum). Raising it (e.g. 0.01) also stops
            trials whose new records are only noise at the floor; it is left at 0 because NMG
            stops trials, and a flat noisy floor fails to make a new record within a few
            epochs anyway.
    """

    window_fraction: float = 0.3
    min_window: int = 5
    min_relative_gain: float = 0.0

    def __post_init__(self) -> None:
        check_fraction("window_fraction", self.window_fraction)
        check_int_at_least("min_window", self.min_window, 1)
        check_in_unit_interval_open_top("min_relative_gain", self.min_relative_gain)


class NoMoreGain(Indicator[NoMoreGainSettings]):
    """NMG, late stage, benign: training has stopped improving; the trial is done, not bad.

    With ``window = max(min_window, ceil(window_fraction * max_epochs))``, positive when the
    lowest ``train_loss`` of the last ``window`` epochs is above the lowest before them minus
    ``min_relative_gain * |that loss|``. With the default 0 this is the paper's rule "window
    minimum > overall minimum": a window that only ties the old record is not positive.
    Needs more epochs than the window; a NaN/infinite loss in the series: no verdict.
    """

    short_name = "NMG"
    stage = "late"
    guarded = True
    settings_type = NoMoreGainSettings

    def judge(self, history: TrialHistory) -> Verdict | None:
        s = self.settings
        window = adaptive_window(history.max_epochs, s.window_fraction, s.min_window)
        gain = window_gain(history.metric(LOSS), window)
        if gain is None:
            return None
        window_min, best_before = gain
        needed = best_before - s.min_relative_gain * abs(best_before)
        if not window_min > needed:
            return None
        return Verdict(
            indicator=self.short_name,
            rule=f"best loss of last {window} epochs {fmt(window_min)} did not beat "
            f"{fmt(best_before)}",
            epoch=history.epochs[-1].epoch,
            values={"window_min": window_min, "best_before": best_before, "window": window},
            benign=True,
        )
