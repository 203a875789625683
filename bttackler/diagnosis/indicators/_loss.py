"""Training-loss indicators: PLC (passive, early), ULC (unexpected, late), NMG (no more gain).

All three read the ``train_loss`` series (ULC: per epoch the lower of it and ``val_loss`` where
the task reports both; one value per recorded epoch, NaN where an epoch did
not report it). A NaN or infinite loss in the part of the series a rule reads means the rule
has no verdict: a non-finite loss is AGV's symptom, reported there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bttackler.core.history import TrialHistory
from bttackler.core.verdict import Verdict, fmt
from bttackler.diagnosis.indicators._base import Indicator, adaptive_window, all_finite
from bttackler.diagnosis.settings_table import (
    check_fraction,
    check_in_unit_interval_open_top,
    check_int_at_least,
    check_non_negative,
    check_positive,
)

LOSS = "train_loss"
VAL_LOSS = "val_loss"


def relative_loss_change(losses: Sequence[float]) -> float | None:
    """PLC's measure: ``mean(|loss[i+1] - loss[i]|) / |loss[0]|``.

    ``None`` with fewer than two values, a non-finite value, or ``loss[0] == 0``.
    """
    if len(losses) < 2 or not all_finite(losses) or losses[0] == 0:
        return None
    steps = np.abs(np.diff(np.asarray(losses, dtype=float)))
    return float(np.mean(steps) / abs(losses[0]))


def lower_of_train_and_val(train: Sequence[float], val: Sequence[float]) -> list[float]:
    """Per epoch, the lower of the training loss and the validation loss where the latter is
    finite; the training loss otherwise (a NaN training loss stays NaN: AGV's symptom).

    Dropout and weight noise make the training loss of a net that predicts well swing: it is
    measured on a crippled net while it trains. A model that really got worse has both of
    them up; SAC reads the lower of the two for the same reason."""
    return [min(t, v) if math.isfinite(t) and math.isfinite(v) else t for t, v in zip(train, val)]


def first_finite(values: Sequence[float]) -> float | None:
    """The first finite value of ``values``; ``None`` when there is none."""
    return next((v for v in values if math.isfinite(v)), None)


def loss_trend(losses: Sequence[float], reference: float) -> tuple[float, float] | None:
    """ULC's measures over a window: ``(slope, fluctuation)``, both divided by ``|reference|``.

    ULC passes the trial's initial training loss (its first finite ``train_loss``, the scale
    PLC also divides by) as ``reference``, so both numbers are shares of the loss the training
    run started from, measured on the raw loss (not its log):

    * slope: of the least-squares line through the window's losses against the epoch index
      (the paper's linear regression): how much of the initial loss is regained per epoch.
    * fluctuation: the mean size, per epoch step, of the moves that go against the window's
      net direction: ``(sum |step| - |sum step|) / (2 * (len - 1))``. A loss that only falls,
      however sharply and however it bends (a geometric decay, a learning-rate step followed
      by a plateau), has fluctuation 0; a loss jumping every epoch between two levels ``a``
      apart scores ``0.4 * a`` over 6 epochs (``a / 2`` in the limit). (Regression residuals
      were tried first and rejected: a drop followed by a plateau has large residuals.)

    Dividing by the initial loss rather than taking ``log(loss)`` is what keeps a converged
    trial safe: a loss wobbling at its floor (0.005 -> 0.008) is a +60% relative move but
    0.1% of an initial loss of 2.3; a loss that really climbs back or swings on the scale of
    the training run still scores high.

    ``None`` with fewer than three values, a non-finite value, or a reference that is 0 or
    not finite.
    """
    if len(losses) < 3 or not all_finite(losses):
        return None
    if not math.isfinite(reference) or reference == 0:
        return None
    scale = abs(reference)
    y = np.asarray(losses, dtype=float)
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
        min_fraction: ... or this share of the trial's planned epochs, if more. Default 0.2,
            SAC's ``from_fraction``: a flat loss is a plateau, and nets that sit on one for a
            few epochs and then break out end among the best (SAC's reason too), so a trial
            planned for many epochs gets a plateau as long in proportion (3 epochs of 20 in
            the paper's setting become 8 of 40). In the benchmark's replay a 40-epoch tanh
            MLP moved 0.08% per epoch for 4 epochs, broke out at epoch 6 and ended 9th.
    """

    tolerance: float = 0.001
    min_epochs: int = 3
    min_fraction: float = 0.2

    def __post_init__(self) -> None:
        check_positive("tolerance", self.tolerance)
        check_int_at_least("min_epochs", self.min_epochs, 2)
        check_in_unit_interval_open_top("min_fraction", self.min_fraction)


def plateau_epochs(min_epochs: int, min_fraction: float, max_epochs: int) -> int:
    """Epochs a loss may stay flat before PLC judges: ``max(min_epochs,
    ceil(min_fraction * max_epochs))``."""
    return max(min_epochs, math.ceil(min_fraction * max_epochs - 1e-9))


class PassiveLossChanges(Indicator[PassiveLossChangesSettings]):
    """PLC, early stage: the training loss barely moves, so the optimizer has no effect.

    Positive when :func:`relative_loss_change` of the whole ``train_loss`` series is below
    ``tolerance`` (at it: not positive), once :func:`plateau_epochs` epochs are recorded
    (``min_epochs``, or ``min_fraction`` of the planned epochs if more). NaN or
    infinite loss anywhere in the series, or a first loss of exactly 0: no verdict.

    Evidence and why it holds across families: the training loss alone, relative to its first
    value (so raw regression targets and label smoothing do not matter), after at least three
    epochs: a loss moving by under 0.1% of itself per epoch is not learning whatever the
    optimizer; a warmup or a slow start moves it by more than that.
    """

    short_name = "PLC"
    stage = "early"
    guarded = True
    settings_type = PassiveLossChangesSettings

    def judge(self, history: TrialHistory) -> Verdict | None:
        s = self.settings
        losses = history.metric(LOSS)
        if len(losses) < plateau_epochs(s.min_epochs, s.min_fraction, history.max_epochs):
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

    Both tolerances are shares of the trial's initial training loss (see :func:`loss_trend`).
    Calibrated on a recorded 20-epoch digits-CNN run: over every late-stage window of the
    trials that reached val_acc >= 0.93, the slope was at most 0.013 (one epoch jumping from
    0.075 to 0.20 after an initial loss of 1.61) and the fluctuation at most 0.004.

    Attributes:
        window_fraction: The window is ``ceil(window_fraction * max_epochs)`` epochs. Default
            0.3: the authors' code used a 6-epoch window for 20-epoch trials.
        min_window: Smallest window, in epochs (at least 3).
            Default 5: on fewer points a single noisy epoch can fake a slope.
        slope_tolerance: Positive when the regression slope of the window, per epoch and
            relative to the initial loss, is above it (strictly). Default 0.03: a steady climb
            that regains 15% of the initial loss over a 6-epoch window. That is over twice the
            worst healthy window measured (0.013); the slope fitted to pure epoch-to-epoch noise
            of sigma 4% of the initial loss stays below it at 3 sigma (0.02 would be 2 sigma);
            on a 6-epoch window a one-epoch spike must exceed 21% of the initial loss
            (7 x 0.03) to fire alone. A converged loss
            wobbling at its floor scores ~0 whatever its relative wobble; the log-loss slope
            used before scored 0.066 and 0.19 on two good trials (val_acc 0.98 and 0.94) and
            killed them.
        fluctuation_tolerance: Positive when the fluctuation of :func:`loss_trend` (mean move
            against the window's direction per epoch, relative to the initial loss) is above it
            (strictly). Default 0.1, 25x the worst healthy window measured (0.004): the loss
            must jump every epoch between two levels more than 25% of the initial loss apart
            (0.4 x gap over 6 epochs), e.g. 0.3 <-> 0.9 after starting at 2.3: the "intense
            fluctuation" of the paper, not the wobble of a noisy optimizer.
    """

    window_fraction: float = 0.3
    min_window: int = 5
    slope_tolerance: float = 0.03
    fluctuation_tolerance: float = 0.1

    def __post_init__(self) -> None:
        check_fraction("window_fraction", self.window_fraction)
        check_int_at_least("min_window", self.min_window, 3)
        check_non_negative("slope_tolerance", self.slope_tolerance)
        check_positive("fluctuation_tolerance", self.fluctuation_tolerance)


class UnexpectedLossChanges(Indicator[UnexpectedLossChangesSettings]):
    """ULC, late stage: the training loss climbs back or swings instead of settling.

    Over the latest ``max(min_window, ceil(window_fraction * max_epochs))`` epochs,
    :func:`loss_trend` gives the slope and fluctuation of the raw ``train_loss`` (per epoch the
    lower of it and ``val_loss`` where the task reports both, :func:`lower_of_train_and_val`),
    both divided by the trial's initial loss (its first finite ``train_loss``, PLC's reference
    too);
    positive when the slope is above ``slope_tolerance`` or the fluctuation above
    ``fluctuation_tolerance`` (at either tolerance: not positive). Relative to the initial loss
    a converged loss wobbling near a small floor is negligible, while a loss that diverges or
    oscillates on the scale of the training run is not.
    No verdict with fewer epochs than the window, a NaN/infinite loss inside the window, or
    an initial loss of 0 (or no finite loss at all).

    Evidence and why it holds across families: the loss over the late window, scaled by the
    initial loss (scale-free), the lower of training and validation loss per epoch (dropout,
    label smoothing and bf16 noise swing the training loss alone); a cosine or step schedule
    only lowers a late loss, never raises it.
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
        reference = first_finite(losses)
        if reference is None:
            return None
        judged = lower_of_train_and_val(losses, history.metric(VAL_LOSS))
        trend = loss_trend(judged[-window:], reference)
        if trend is None:
            return None
        slope, fluctuation = trend
        values = {
            "relative_slope": slope,
            "relative_fluctuation": fluctuation,
            "initial_loss": reference,
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
        converged_gain: A trial stopped by NMG has converged (a benign verdict) only when its
            best loss is below its first epoch's by more than this share of it; otherwise it
            never gained anything (a sigmoid net stuck at the uniform-guess loss, ln 10 on ten
            classes, moves about 0.2%), and the verdict is a problem verdict that says so.
            Default 0.05: healthy trials here gain 30-95% from their first epoch.
    """

    window_fraction: float = 0.3
    min_window: int = 5
    min_relative_gain: float = 0.0
    converged_gain: float = 0.05

    def __post_init__(self) -> None:
        check_fraction("window_fraction", self.window_fraction)
        check_int_at_least("min_window", self.min_window, 1)
        check_in_unit_interval_open_top("min_relative_gain", self.min_relative_gain)
        check_in_unit_interval_open_top("converged_gain", self.converged_gain)


class NoMoreGain(Indicator[NoMoreGainSettings]):
    """NMG, late stage, benign: training has stopped improving; the trial is done, not bad.

    With ``window = max(min_window, ceil(window_fraction * max_epochs))``, positive when the
    lowest ``train_loss`` of the last ``window`` epochs is above the lowest before them minus
    ``min_relative_gain * |that loss|``. With the default 0 this is the paper's rule "window
    minimum > overall minimum": a window that only ties the old record is not positive.
    Needs more epochs than the window; a NaN/infinite loss in the series: no verdict.
    The verdict is benign (converged) only when the best loss gained more than
    ``converged_gain`` of the first epoch's loss; a trial that never gained is a problem.

    Evidence and why it holds across families: the training loss's record low, compared with
    itself (scale-free); benign by design, so it never counts as a false alarm: it stops a
    trial that has stopped gaining, good or bad.
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
        first = history.metric(LOSS)[0]
        gained = (first - best_before) / abs(first) if first else 0.0
        converged = gained > s.converged_gain
        rule = (
            f"best loss of last {window} epochs {fmt(window_min)} did not beat {fmt(best_before)}"
        )
        if not converged:
            rule += f"; it never gained: {fmt(100 * gained)}% below the first epoch's {fmt(first)}"
        return Verdict(
            indicator=self.short_name,
            rule=rule,
            epoch=history.epochs[-1].epoch,
            values={
                "window_min": window_min,
                "best_before": best_before,
                "window": window,
                "gain_since_first": gained,
            },
            benign=converged,
        )
