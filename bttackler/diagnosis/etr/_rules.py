"""The two accuracy-based early-termination rules (ETRs) the paper compares BTTackler with.

* :class:`LearningCurveExtrapolation` (LCE, NNI's Curvefitting assessor): extrapolate the
  trial's objective curve to its last epoch and stop the trial when the prediction falls short
  of ``threshold`` x the best final value among finished trials. A minimised objective is
  judged on its rising transform ``1 / (1 + value)`` (:func:`rising`).
* :class:`MedianStop` (MSR, NNI's Medianstop assessor with the start-up and warm-up of Optuna's
  MedianPruner): stop the trial when its best value so far is worse than the median of the
  finished trials' running averages at the same epoch count.

Unlike the quality indicators, these rules read the objective (not training internals) and
compare with other trials: ``check(history, finished)`` is a pure function of the trial's
history and the histories of the trials that ran to their end. Both count the *records* of a
history (``len(history.epochs)``), like the indicators, so 0- and 1-based tasks behave alike.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bttackler.core.history import TrialHistory
from bttackler.core.objective import Mode
from bttackler.core.verdict import Verdict, fmt
from bttackler.diagnosis.etr._curves import DEFAULT_MIN_MODELS, predict_final
from bttackler.diagnosis.settings_table import (
    check_int_at_least,
    check_positive,
    require,
    settings_or_default,
)

MODES: tuple[str, ...] = tuple(m.value for m in Mode)


def check_objective(objective: object, mode: object) -> None:
    require(isinstance(objective, str) and objective != "", "objective", objective, "a name")
    require(mode in MODES, "mode", mode, "'max' or 'min'")


# --------------------------------------------------------------------------------------------
# LCE


@dataclass(frozen=True, kw_only=True)
class LearningCurveSettings:
    """Settings of :class:`LearningCurveExtrapolation`; the defaults are NNI's.

    Attributes:
        start_step: Epochs recorded before the first judgement (at least 1). Default 6 (NNI);
            the paper's 20-epoch runs used 10.
        threshold: The trial is stopped when its predicted final value is below
            ``threshold`` x the best final value of the finished trials. Default 0.95.
        gap: Judge every ``gap`` epochs from ``start_step`` on: at 6, 7, 8, ... with gap 1;
            6, 8, 10, ... with gap 2. Default 1.
        lower: Smallest plausible objective value; the prediction is clipped to it. Default 0.
        upper: Largest plausible objective value; the prediction is clipped to it. Default 1:
            the curve models describe an accuracy-like objective in [0, 1].
            ``lower`` and ``upper`` apply to a maximised objective only: a minimised one is
            judged on :func:`rising`, whose range is always [0, 1].
        min_models: Fewest usable curve fits for a prediction (no verdict with fewer).
            Default 4, as NNI.
    """

    start_step: int = 6
    threshold: float = 0.95
    gap: int = 1
    lower: float = 0.0
    upper: float = 1.0
    min_models: int = DEFAULT_MIN_MODELS

    def __post_init__(self) -> None:
        check_int_at_least("start_step", self.start_step, 1)
        check_positive("threshold", self.threshold)
        check_int_at_least("gap", self.gap, 1)
        for name in ("lower", "upper"):
            value = getattr(self, name)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            require(ok and not math.isnan(value), name, value, "a number")
        require(self.lower < self.upper, "upper", self.upper, f"> lower ({self.lower!r})")
        check_int_at_least("min_models", self.min_models, 1)


def rising(value: float) -> float:
    """A minimised, non-negative objective (a loss, an MSE) as a rising one in [0, 1].

    ``1 / (1 + value)``: 1 at a perfect 0, 0.5 at 1, towards 0 as the value grows; strictly
    decreasing, so it ranks trials exactly as the objective does, and a falling, levelling
    loss curve becomes the rising, saturating curve LCE's models describe. NaN, infinite and
    negative values (outside the assumed range) give NaN, which LCE leaves out of the fit, as
    it does with non-finite values of a maximised objective.
    """
    if not math.isfinite(value) or value < 0:
        return math.nan
    return 1.0 / (1.0 + value)


def unrising(y: float) -> float:
    """The inverse of :func:`rising`: the objective value of a transformed one."""
    return math.inf if y <= 0 else 1.0 / y - 1.0


def best_final_value(
    finished: Sequence[TrialHistory], objective: str, mode: Mode | str = Mode.MAX
) -> float | None:
    """The best (largest for ``"max"``, smallest for ``"min"``) last-epoch ``objective`` among
    ``finished``; NaN finals are left out.

    ``None`` when no finished trial has a non-NaN final value.
    """
    finals = [h.metric(objective)[-1] for h in finished if h.epochs]
    finals = [v for v in finals if not math.isnan(v)]
    if not finals:
        return None
    return Mode.of(mode).best(finals)


@functools.lru_cache(maxsize=1 << 16)
def _predict(
    series: tuple[float, ...], max_epochs: int, lower: float, upper: float, min_models: int
) -> float | None:
    """:func:`predict_final`, remembered: a pure function of the series, and ``simulate``
    replays one recorded trial's curve in many searches (curve fitting is LCE's whole cost)."""
    return predict_final(list(series), max_epochs, lower=lower, upper=upper, min_models=min_models)


class LearningCurveExtrapolation:
    """LCE: stop a trial whose extrapolated final objective falls short of the best trial's.

    Judged once ``start_step`` epochs are recorded and then every ``gap`` epochs, while the
    trial has not reached ``max_epochs``.
    :func:`~bttackler.diagnosis.etr.predict_final` extrapolates the objective series to
    position ``max_epochs``; the trial is stopped when the prediction is below ``threshold`` x
    the best final value among the finished trials (at it: kept).

    The curve models are increasing, saturating functions with values in [0, 1] (accuracies),
    so a maximised objective is assumed non-negative (an accuracy is). A minimised objective (a
    loss, an MSE, assumed non-negative) is judged on :func:`rising` ``(v) = 1 / (1 + v)``, not
    on ``-v``: negation would give curves in [-inf, 0] that several models (vap, mmf, ...) and
    the models' starting points do not describe, and ``threshold x best`` would move the bar
    the wrong way for negative values. On the transformed scale everything is as for an
    accuracy: the trial is stopped when ``rising(predicted) < threshold x rising(best)``, i.e.
    when its predicted final value is above ``(1 + best) / threshold - 1`` (best 0.5,
    threshold 0.95: above 0.579). ``lower``/``upper`` are then not used: the range is [0, 1].

    NaN handling: NaN (and infinite) objective values are left out of the fit, keeping the
    positions of the others; a series with too few finite values gives no prediction and no
    verdict. A finished trial whose last value is NaN does not count towards the best final
    value. No finished trials (with a final value): no verdict. Like NNI, a prediction the
    curve models cannot make keeps the trial.

    Args:
        settings: ``None`` takes the defaults (NNI's).
        objective: Name of the reported metric to extrapolate.
        mode: ``"max"`` or ``"min"`` (judged on :func:`rising`, see above).
    """

    short_name = "LCE"
    cohort = "finished"

    def __init__(
        self, settings: LearningCurveSettings | None = None, *, objective: str, mode: Mode | str
    ) -> None:
        check_objective(objective, mode)
        self.settings = settings_or_default(settings, LearningCurveSettings, "LCE")
        self.objective = objective
        self.mode = Mode(mode)

    def check(self, history: TrialHistory, finished: Sequence[TrialHistory]) -> Verdict | None:
        """The verdict on ``history`` now, or ``None``: kept, not a judging epoch, no data."""
        s = self.settings
        count = len(history.epochs)
        if count < s.start_step or (count - s.start_step) % s.gap != 0:
            return None
        if count >= history.max_epochs:
            return None  # the trial is at its end: nothing left to save
        best = best_final_value(finished, self.objective, self.mode)
        if best is None:
            return None
        values = history.metric(self.objective)
        if self.mode is Mode.MAX:
            series, best_y, lower, upper = list(values), best, s.lower, s.upper
        else:
            series, best_y, lower, upper = [rising(v) for v in values], rising(best), 0.0, 1.0
        y = _predict(tuple(series), history.max_epochs, lower, upper, s.min_models)
        if y is None:
            return None
        bar_y = s.threshold * best_y
        if not y < bar_y:
            return None
        if self.mode is Mode.MAX:
            predicted = y
            rule = (
                f"predicted final {self.objective} {fmt(y)} at epoch {history.max_epochs} < "
                f"{fmt(s.threshold)} x best {fmt(best)} = {fmt(bar_y)}"
            )
        else:
            predicted = unrising(y)
            rule = (
                f"predicted final {self.objective} {fmt(predicted)} at epoch "
                f"{history.max_epochs} > {fmt(unrising(bar_y))} (1/(1+x) below "
                f"{fmt(s.threshold)} x that of best {fmt(best)})"
            )
        return Verdict(
            indicator=self.short_name,
            rule=rule,
            epoch=history.epochs[-1].epoch,
            values={
                "predicted": predicted,
                "best_final": best,
                "threshold": s.threshold,
                "last": values[-1],
                "epochs": float(count),
            },
        )

    def __repr__(self) -> str:
        return f"LearningCurveExtrapolation({self.settings!r}, objective={self.objective!r})"


# --------------------------------------------------------------------------------------------
# MSR


@dataclass(frozen=True, kw_only=True)
class MedianStopSettings:
    """Settings of :class:`MedianStop`; the defaults are the start-up and warm-up of Optuna's
    MedianPruner, not NNI's (``start_step = 1, min_finished = 1``): with NNI's, the first
    finished trial alone is the median, and on a wide space MSR stopped nearly every trial at
    its first or second epoch (355 of 374 in one 10-epoch run), good ones included.

    Attributes:
        start_step: Epochs recorded before the first judgement (at least 1). Default 2: a
            trial is never judged on its first epoch alone (Optuna's ``n_warmup_steps``).
        min_finished: Fewest finished trials that reached the trial's epoch count (with a
            non-NaN running average there) for a judgement. Default 5 (Optuna's
            ``n_startup_trials``: no pruning until 5 trials have finished); 1 is NNI's.
    """

    start_step: int = 2
    min_finished: int = 5

    def __post_init__(self) -> None:
        check_int_at_least("start_step", self.start_step, 1)
        check_int_at_least("min_finished", self.min_finished, 1)


def running_average(values: Sequence[float], count: int) -> float | None:
    """Mean of the non-NaN values among the first ``count``.

    ``None`` when the series is shorter than ``count``, holds no non-NaN value there, or the
    mean is NaN (``+inf`` and ``-inf`` together). Infinite values count: a diverged epoch
    (``mse = inf``) makes the average infinite, which is what it was.
    """
    if count < 1 or len(values) < count:
        return None
    head = [v for v in values[:count] if not math.isnan(v)]
    if not head:
        return None
    mean = sum(head) / len(head)
    return None if math.isnan(mean) else mean


def best_so_far(values: Sequence[float], mode: Mode | str) -> float:
    """The best non-NaN value (largest for ``"max"``, smallest for ``"min"``); NaN if none."""
    kept = [v for v in values if not math.isnan(v)]
    if not kept:
        return math.nan
    return Mode.of(mode).best(kept)


class MedianStop:
    """MSR: stop a trial whose best value so far is worse than the median of finished trials'.

    With ``n = len(history.epochs) >= start_step``: for each finished trial with at least
    ``n`` epochs, :func:`running_average` of its first ``n`` objective values; the trial is
    stopped when its :func:`best_so_far` is worse than the median of those averages (for
    ``"max"``: below it; for ``"min"``: above it; equal: kept). Needs ``min_finished`` such
    finished trials, else no verdict (NNI: a trial is kept while nothing finished that far).

    NaN handling: NaN objective values are ignored in the averages and in the trial's best.
    A trial whose values so far are *all* NaN is stopped once a median exists: a NaN objective
    is what a diverged run reports, and a trial that reported nothing else has shown nothing
    better than the median. (A task that reports its objective only every few epochs should
    set ``start_step`` past its first report.) Infinite values are values: an infinite loss is
    worse than any median.

    Args:
        settings: ``None`` takes the defaults (Optuna MedianPruner's start-up and warm-up).
        objective: Name of the reported metric.
        mode: ``"max"`` or ``"min"``: which direction is better.
    """

    short_name = "MSR"
    cohort = "finished"

    def __init__(
        self, settings: MedianStopSettings | None = None, *, objective: str, mode: Mode | str
    ) -> None:
        check_objective(objective, mode)
        self.settings = settings_or_default(settings, MedianStopSettings, "MSR")
        self.objective = objective
        self.mode = Mode(mode)

    def check(self, history: TrialHistory, finished: Sequence[TrialHistory]) -> Verdict | None:
        """The verdict on ``history`` now, or ``None``: kept, too early, too few finished."""
        count = len(history.epochs)
        if count < self.settings.start_step:
            return None
        averages = [
            a
            for a in (running_average(h.metric(self.objective), count) for h in finished)
            if a is not None
        ]
        if len(averages) < self.settings.min_finished:
            return None
        median = float(np.median(averages))
        values = history.metric(self.objective)
        best = best_so_far(values, self.mode)
        where = f"median {fmt(median)} of {len(averages)} finished trials' running averages"
        if math.isnan(best):
            rule = f"only NaN {self.objective} in {count} epochs; {where}"
        elif self.mode.better(median, best):
            sign = "<" if self.mode is Mode.MAX else ">"
            rule = f"best {self.objective} {fmt(best)} {sign} {where} at {count} epochs"
        else:
            return None
        return Verdict(
            indicator=self.short_name,
            rule=rule,
            epoch=history.epochs[-1].epoch,
            values={
                "best": best,
                "median": median,
                "finished": float(len(averages)),
                "last": values[-1],
                "epochs": float(count),
            },
        )

    def __repr__(self) -> str:
        mode = self.mode.value
        return f"MedianStop({self.settings!r}, objective={self.objective!r}, mode={mode!r})"
