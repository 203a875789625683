"""Gradient indicators: AGV (abnormal values), EAG (amplified), ERG (reduced).

Gradient statistics are per layer in forward order (index 0 nearest the input), as recorded
for the newest epoch. AGV also reads the mid-epoch NaN/Inf events of the probe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bttackler.core.history import LayerStat, TrialHistory
from bttackler.core.verdict import Verdict, fmt
from bttackler.diagnosis.indicators._base import Indicator, last_epoch
from bttackler.diagnosis.settings_table import check_positive


def adjacent_gradient_ratios(grads: Sequence[LayerStat]) -> list[float]:
    """Ratios ``abs_mean(layer i) / abs_mean(layer i+1)`` between adjacent layers (input side
    over output side), layers taken in ``index`` order.

    A layer whose gradient is exactly zero gives ratio 0 (on the input side) or +inf (on the
    output side): both are real signs of vanishing or exploding gradients and kept. A pair that
    is 0/0, or has a NaN or infinite ``abs_mean`` (not computed, or NaN gradients: AGV's case),
    has no meaningful ratio and is left out.
    """
    layers = sorted(grads, key=lambda s: s.index)
    means = [float(s.values.get("abs_mean", math.nan)) for s in layers]
    ratios: list[float] = []
    for lower, upper in zip(means[:-1], means[1:]):
        if not (math.isfinite(lower) and math.isfinite(upper)):
            continue
        if upper == 0.0:
            if lower == 0.0:
                continue
            ratios.append(math.inf)
        else:
            ratios.append(lower / upper)
    return ratios


def median_gradient_ratio(grads: Sequence[LayerStat]) -> float | None:
    """Median of :func:`adjacent_gradient_ratios`; ``None`` with fewer than two usable layers."""
    ratios = adjacent_gradient_ratios(grads)
    if not ratios:
        return None
    return float(np.median(ratios))


# EAG and ERG judge a growth or decay that compounds layer after layer: one pair of layers
# cannot show that. A single ratio (a net with two weighted layers) measures the two layers'
# shapes and input scale as much as the gradient flow: in the benchmark's replay, healthy
# one-hidden-layer regression MLPs (diabetesmlp, 10 inputs) sat at 0.003-0.03 and ERG killed
# three of their runs' top 10 at that one ratio, while nets with two or more pairs kept
# their medians inside the measured healthy range.
MIN_LAYER_PAIRS = 2


def compounded_gradient_ratio(
    grads: Sequence[LayerStat],
    min_pairs: int = MIN_LAYER_PAIRS,
    *,
    side: Literal["middle", "lower", "upper"] = "middle",
) -> float | None:
    """What EAG and ERG judge: the median of :func:`adjacent_gradient_ratios`, or ``None``
    with fewer than ``min_pairs`` usable ratios (``min_pairs + 1`` weighted layers).

    With an even count of ratios the median lies between the two middle ones: ``side="lower"``
    takes the lower of them (EAG: at least half of the pairs must amplify beyond the bound),
    ``"upper"`` the higher (ERG: at least half must reduce), ``"middle"`` their mean. The
    mean of two opposite ratios is no compounding: the zoo's 3-layer regression MLP on raw
    targets (RMSprop, val_mse 92% of the way to its dataset's best) had ratios 27 and 0.03 at
    epoch 13, one layer's gradient up, the next one's down, and their mean, 13.7, fired EAG.
    """
    ratios = sorted(adjacent_gradient_ratios(grads))
    if len(ratios) < max(1, min_pairs):
        return None
    if side == "lower":
        return float(ratios[(len(ratios) - 1) // 2])
    if side == "upper":
        return float(ratios[len(ratios) // 2])
    return float(np.median(ratios))


# --------------------------------------------------------------------------------------------
# AGV


@dataclass(frozen=True, kw_only=True)
class AbnormalGradientValuesSettings:
    """Settings of :class:`AbnormalGradientValues`.

    Attributes:
        max_abs_gradient: Safe upper bound on any layer's largest absolute gradient element
            (``abs_max``); above it AGV fires, at it not. Default 1e4: the number the paper
            authors' code uses as its exploding-gradient bound (``p_eg1``, there applied to the
            median of layers' mean absolute gradients; applied here to the single largest
            element it is stricter, yet a cross-entropy gradient is bounded by the activations'
            scale, and healthy small nets here stay below 10).
    """

    max_abs_gradient: float = 1e4

    def __post_init__(self) -> None:
        check_positive("max_abs_gradient", self.max_abs_gradient)


class AbnormalGradientValues(Indicator[AbnormalGradientValuesSettings]):
    """AGV, any stage: gradients that are NaN/Inf or beyond a safe bound, or a NaN loss.

    Positive when any of these holds (checked in this order, the first one reported):

    1. the probe saw a NaN/Inf gradient mid-epoch (any ``history.nonfinite`` event);
    2. a layer of the newest epoch has ``nan_count > 0`` or ``inf_count > 0`` in its gradient
       statistics, or an infinite ``abs_max``;
    3. the newest epoch reported a ``train_loss`` that is NaN or infinite (a missing
       ``train_loss`` is not a symptom);
    4. a layer's gradient ``abs_max`` exceeds ``max_abs_gradient`` (strictly).

    NaN handling: a NaN statistic means "could not be computed" and is ignored (a NaN
    ``abs_max`` alone is not a symptom; a NaN gradient shows in ``nan_count``).

    Evidence and why it holds across families: a NaN/Inf gradient or loss is broken training
    under any optimizer, schedule or architecture (nothing recovers from NaN weights). The
    bound on a finite gradient is the one judgement of size: 1e4 is three decades above what
    the zoo's good trainings reach, the regression on raw targets (25..346, MSE in the
    thousands) included; frozen layers have no gradient and are not read.
    """

    short_name = "AGV"
    stage = "any"
    guarded = False
    settings_type = AbnormalGradientValuesSettings

    def judge(self, history: TrialHistory) -> Verdict | None:
        if history.nonfinite:
            ev = history.nonfinite[0]
            return Verdict(
                indicator=self.short_name,
                rule=f"non-finite gradient in layer {ev.layer} at epoch {ev.epoch + 1} batch "
                f"{ev.batch} (nan {fmt(ev.nan_count)}, inf {fmt(ev.inf_count)})",
                epoch=last_epoch(history) if history.epochs else ev.epoch,
                values={"nan_count": ev.nan_count, "inf_count": ev.inf_count},
            )
        if not history.epochs:
            return None
        record = history.epochs[-1]
        for layer in record.grads:
            nan = float(layer.values.get("nan_count", 0.0))
            inf = float(layer.values.get("inf_count", 0.0))
            abs_max = float(layer.values.get("abs_max", math.nan))
            if nan > 0 or inf > 0 or math.isinf(abs_max):
                return Verdict(
                    indicator=self.short_name,
                    rule=f"non-finite gradient in layer {layer.name} "
                    f"(nan {fmt(nan)}, inf {fmt(inf)}, abs_max {fmt(abs_max)})",
                    epoch=record.epoch,
                    values={"nan_count": nan, "inf_count": inf, "abs_max": abs_max},
                )
        loss = record.metrics.get("train_loss")
        if loss is not None and not math.isfinite(float(loss)):
            return Verdict(
                indicator=self.short_name,
                rule=f"train_loss is {float(loss)}",
                epoch=record.epoch,
                values={"train_loss": float(loss)},
            )
        bound = self.settings.max_abs_gradient
        for layer in record.grads:
            abs_max = float(layer.values.get("abs_max", math.nan))
            if abs_max > bound:
                return Verdict(
                    indicator=self.short_name,
                    rule=f"gradient abs_max {fmt(abs_max)} > {fmt(bound)} in layer {layer.name}",
                    epoch=record.epoch,
                    values={"abs_max": abs_max, "bound": bound, "layer": float(layer.index)},
                )
        return None


# --------------------------------------------------------------------------------------------
# EAG and ERG


@dataclass(frozen=True, kw_only=True)
class ExponentiallyAmplifiedGradientsSettings:
    """Settings of :class:`ExponentiallyAmplifiedGradients`.

    Attributes:
        upper_bound: EAG fires when the median adjacent-layer gradient ratio exceeds it
            (strictly). Default 10: healthy small nets measure medians of 0.15-0.45, so 10 is
            over 20x the healthiest value seen, and a gradient amplified tenfold per layer
            grows as 10^depth, which is an explosion. (The authors' code used 1000.)
    """

    upper_bound: float = 10.0

    def __post_init__(self) -> None:
        check_positive("upper_bound", self.upper_bound)


class ExponentiallyAmplifiedGradients(Indicator[ExponentiallyAmplifiedGradientsSettings]):
    """EAG, early stage: gradients growing layer after layer towards the input.

    Positive when the median of :func:`adjacent_gradient_ratios` over the newest epoch's
    gradient statistics is above ``upper_bound`` (at the bound: not positive); of an even
    count of ratios, the lower middle one (:func:`compounded_gradient_ratio`).
    A zero output-side gradient gives an infinite ratio (kept). Fewer than
    ``MIN_LAYER_PAIRS`` (2) usable ratios, i.e. fewer than three layers with a finite
    ``abs_mean`` (NaN: not computed, or NaN gradients, which AGV reports): no verdict, since a
    single pair of layers cannot show an amplification that compounds with depth.

    Evidence and why it holds across families: a ratio of gradient sizes between adjacent
    weighted layers is scale-free (the learning rate and the optimizer's rescaling do not
    enter: the raw gradients are read), and the median over pairs ignores one odd pair such as
    a Transformer's embedding beside its attention projections or a frozen backbone's missing
    gradients; the bound (10) is four times the largest healthy median measured.
    """

    short_name = "EAG"
    stage = "early"
    guarded = False
    settings_type = ExponentiallyAmplifiedGradientsSettings

    def judge(self, history: TrialHistory) -> Verdict | None:
        if not history.epochs:
            return None
        median = compounded_gradient_ratio(history.epochs[-1].grads, side="lower")
        bound = self.settings.upper_bound
        if median is None or not median > bound:
            return None
        return Verdict(
            indicator=self.short_name,
            rule=f"median gradient ratio {fmt(median)} > {fmt(bound)}",
            epoch=history.epochs[-1].epoch,
            values={"median_ratio": median, "upper_bound": bound},
        )


@dataclass(frozen=True, kw_only=True)
class ExponentiallyReducedGradientsSettings:
    """Settings of :class:`ExponentiallyReducedGradients`.

    Attributes:
        lower_bound: ERG fires when the median adjacent-layer gradient ratio is below it
            (strictly). Default 0.02: 7.5x under the lowest healthy median measured (0.15),
            and still twice the 0.01 that nets with really vanishing gradients show. (The
            authors' code used 1e-4, which is looser still.)
    """

    lower_bound: float = 0.02

    def __post_init__(self) -> None:
        check_positive("lower_bound", self.lower_bound)


class ExponentiallyReducedGradients(Indicator[ExponentiallyReducedGradientsSettings]):
    """ERG, early stage: gradients shrinking layer after layer towards the input (vanishing).

    Positive when the median of :func:`adjacent_gradient_ratios` over the newest epoch's
    gradient statistics is below ``lower_bound`` (at the bound: not positive); of an even
    count of ratios, the upper middle one (:func:`compounded_gradient_ratio`). A zero
    input-side gradient gives ratio 0 (kept); 0/0 pairs and NaN ``abs_mean`` are left out.
    Fewer than ``MIN_LAYER_PAIRS`` (2) usable ratios (three weighted layers): no verdict; one
    ratio reflects the two layers' shapes, not a decay that compounds with depth.

    Evidence and why it holds across families: as EAG's, a scale-free median ratio of raw
    gradient sizes, unmoved by the optimizer or schedule; normalisation and residual paths keep
    it near 1, and the bound (0.02) is 7x below the lowest healthy median measured, so deep
    nets at default initialisation that start small everywhere (not layer by layer) pass.
    """

    short_name = "ERG"
    stage = "early"
    guarded = True
    settings_type = ExponentiallyReducedGradientsSettings

    def judge(self, history: TrialHistory) -> Verdict | None:
        if not history.epochs:
            return None
        median = compounded_gradient_ratio(history.epochs[-1].grads, side="upper")
        bound = self.settings.lower_bound
        if median is None or not median < bound:
            return None
        return Verdict(
            indicator=self.short_name,
            rule=f"median gradient ratio {fmt(median)} < {fmt(bound)}",
            epoch=history.epochs[-1].epoch,
            values={"median_ratio": median, "lower_bound": bound},
        )
