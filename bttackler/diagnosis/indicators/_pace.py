"""Pace indicators: trials that learn far too slowly, or not at all, judged from epoch 1.

The paper's seven indicators catch pathological training (NaN, exploding or vanishing
gradient ratios, dead layers, a flat loss). On a wide search space the largest time sink is
different: trials with healthy-looking gradients that learn orders of magnitude too slowly
(learning rates at the bottom of the range, adagrad/adadelta, sigmoid nets stuck at the
uniform-guess loss). Measured on 200 random trials of the default task on a Table-1-wide
space, three training-health signals separate them without comparing accuracies:

* TWU, tiny weight updates: one optimizer step moves the weights by about 1e-2 of their norm
  in the top-10 trials (worst 4.4e-3), below 2e-4 in the slow ones (median 1.9e-4 slow,
  7e-5 stuck). Karpathy's rule of thumb for a net that learns at a useful pace is 1e-3.
* VGM, vanishing gradient magnitude: the median over layers of mean |gradient| is 2.5e-3 or
  more in the top 10, below 3e-5 in saturated sigmoid nets whose optimizer rescales steps
  (rmsprop, adagrad: their updates look normal). The paper authors' code has this rule at
  1e-5 (``p_vg``).
* SAC, stuck at chance: three epochs in, the training loss is still at the loss of a model
  that learned nothing (the task's ``CHANCE_LOSS``, ln 10 on ten classes). In that study it
  caught 112 of the 114 trials that ended below 0.6 accuracy and flagged no trial of the
  best 20%.

TWU and VGM judge the first ``within_epochs`` epochs only (a decaying learning rate and a
converging loss make both small later, legitimately).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bttackler.core.history import LayerStat, TrialHistory
from bttackler.core.verdict import Verdict, fmt
from bttackler.diagnosis.indicators._base import Indicator
from bttackler.diagnosis.settings_table import (
    check_in_unit_interval_open_top,
    check_int_at_least,
    check_positive,
)

UPDATE_RATIO = "update_ratio"
ABS_MEAN = "abs_mean"
LOSS = "train_loss"


def median_over_layers(layers: Sequence[LayerStat], stat: str) -> float | None:
    """Median of one finite statistic over the layers that have it; None when none has."""
    values = [float(layer.values.get(stat, math.nan)) for layer in layers]
    finite = [v for v in values if math.isfinite(v)]
    return float(statistics.median(finite)) if finite else None


def _first_epochs(history: TrialHistory, within_epochs: int) -> bool:
    return 1 <= len(history.epochs) <= within_epochs


# --------------------------------------------------------------------------------------------
# TWU


@dataclass(frozen=True, kw_only=True)
class TinyWeightUpdatesSettings:
    """Settings of :class:`TinyWeightUpdates`.

    Attributes:
        min_update_ratio: TWU fires when the median over layers of the epoch's mean
            ``||step|| / ||weights||`` is below it, for a trial of ``reference_epochs``
            epochs. Default 2e-4: one decade under the worst top-10 trial of the study in the
            module docstring (4.4e-3) would be 4.4e-4; 2e-4 flagged no trial of the best 30%
            there.
        reference_epochs: The planned epochs ``min_update_ratio`` holds for. Default 20: the
            study's trials trained 20 epochs. How far a trial's weights get is about the step
            size times the steps it takes, so a trial planned for more epochs may take
            proportionally smaller steps: the bound is ``min_update_ratio * reference_epochs
            / max_epochs`` (1e-4 for 40 epochs), and never stricter than ``min_update_ratio``
            for shorter trials (that was not measured). In the benchmark's replay two
            40-epoch regression MLPs at 1.7e-4 and 1.8e-4 per step ended 3rd of their runs.
        within_epochs: Judged after each of the first this many epochs. Default 2.
    """

    min_update_ratio: float = 2e-4
    reference_epochs: int = 20
    within_epochs: int = 2

    def __post_init__(self) -> None:
        check_positive("min_update_ratio", self.min_update_ratio)
        check_int_at_least("reference_epochs", self.reference_epochs, 1)
        check_int_at_least("within_epochs", self.within_epochs, 1)


def update_ratio_bound(min_update_ratio: float, reference_epochs: int, max_epochs: int) -> float:
    """TWU's bound for a trial planned for ``max_epochs`` epochs: ``min_update_ratio`` scaled
    by ``reference_epochs / max_epochs``, at most ``min_update_ratio`` (see
    :class:`TinyWeightUpdatesSettings`)."""
    return min_update_ratio * min(1.0, reference_epochs / max(1, max_epochs))


class TinyWeightUpdates(Indicator[TinyWeightUpdatesSettings]):
    """TWU, first epochs: each optimizer step moves the weights by a tiny share of their norm,
    so the trial would need orders of magnitude more epochs than it has.

    Reads the weights' ``update_ratio`` (measured by the probe on its sampled batches). Layers
    without it (NaN) are left out; no layer with it: no verdict. The bound shrinks for a
    trial planned for more than ``reference_epochs`` epochs (:func:`update_ratio_bound`).
    """

    short_name = "TWU"
    stage = "any"
    guarded = True
    settings_type = TinyWeightUpdatesSettings

    def judge(self, history: TrialHistory) -> Verdict | None:
        s = self.settings
        if not _first_epochs(history, s.within_epochs):
            return None
        record = history.epochs[-1]
        ratio = median_over_layers(record.weights, UPDATE_RATIO)
        bound = update_ratio_bound(s.min_update_ratio, s.reference_epochs, history.max_epochs)
        if ratio is None or not ratio < bound:
            return None
        return Verdict(
            indicator=self.short_name,
            rule=f"median weight update per step {fmt(ratio)} of the weights' norm "
            f"< {fmt(bound)} (for {history.max_epochs} epochs)",
            epoch=record.epoch,
            values={"update_ratio": ratio, "min_update_ratio": bound},
        )


# --------------------------------------------------------------------------------------------
# VGM


@dataclass(frozen=True, kw_only=True)
class VanishingGradientMagnitudeSettings:
    """Settings of :class:`VanishingGradientMagnitude`.

    Attributes:
        min_abs_gradient: VGM fires when the median over layers of the mean absolute gradient
            is below it. Default 3e-5: between the paper authors' 1e-5 (which caught 20 of 114
            bad trials in the study) and 1e-4 (44, but only 0.15 decades from a good trial);
            the top 10 there were at 2.5e-3 or more.
        max_relative_gradient: ... and only when the gradient is also small beside the weights
            it has to move: the median over layers of mean |gradient| / mean |weight| below
            it (not measured: the absolute bound alone decides). Default 1e-3: the absolute
            bound was set on nets at PyTorch's default initialisation (digits: mean |weight|
            0.024-0.07), where 3e-5 is about 1e-3 of the weights: all 23 digits trials VGM
            caught in the benchmark's replay are still caught (the 200-trial study was not
            re-measured). A net initialised with weights 30x smaller than that has
            gradients small in proportion (downstream weights scale them), a saddle near the
            origin that an adaptive optimizer leaves in a few epochs: in the benchmark's
            replay a tanh MLP at init scale 0.03 (gradients 1.5e-5, 1e-2 of its weights)
            broke out at epoch 6 of 40 and ended 9th of its run.
        within_epochs: Judged after each of the first this many epochs. Default 2.
    """

    min_abs_gradient: float = 3e-5
    max_relative_gradient: float = 1e-3
    within_epochs: int = 2

    def __post_init__(self) -> None:
        check_positive("min_abs_gradient", self.min_abs_gradient)
        check_positive("max_relative_gradient", self.max_relative_gradient)
        check_int_at_least("within_epochs", self.within_epochs, 1)


def relative_gradient_magnitude(
    grads: Sequence[LayerStat], weights: Sequence[LayerStat]
) -> float | None:
    """Median over layers of mean |gradient| / mean |weight| (layers matched by index; a layer
    without both finite, or with zero weights, is left out); None when no layer has both."""
    scale = {w.index: float(w.values.get(ABS_MEAN, math.nan)) for w in weights}
    ratios = []
    for g in grads:
        weight = scale.get(g.index, math.nan)
        grad = float(g.values.get(ABS_MEAN, math.nan))
        if math.isfinite(weight) and weight > 0 and math.isfinite(grad):
            ratios.append(grad / weight)
    return float(statistics.median(ratios)) if ratios else None


class VanishingGradientMagnitude(Indicator[VanishingGradientMagnitudeSettings]):
    """VGM, first epochs: gradients are vanishingly small in absolute size (not relative
    between layers, as ERG judges), so nothing moves unless the optimizer rescales it; and
    small beside the weights too (:func:`relative_gradient_magnitude`), so tiny weights with
    gradients in proportion are not mistaken for it."""

    short_name = "VGM"
    stage = "any"
    guarded = True
    settings_type = VanishingGradientMagnitudeSettings

    def judge(self, history: TrialHistory) -> Verdict | None:
        s = self.settings
        if not _first_epochs(history, s.within_epochs):
            return None
        record = history.epochs[-1]
        magnitude = median_over_layers(record.grads, ABS_MEAN)
        if magnitude is None or not magnitude < s.min_abs_gradient:
            return None
        relative = relative_gradient_magnitude(record.grads, record.weights)
        if relative is not None and not relative < s.max_relative_gradient:
            return None
        return Verdict(
            indicator=self.short_name,
            rule=f"median mean |gradient| over layers {fmt(magnitude)} < {fmt(s.min_abs_gradient)}",
            epoch=record.epoch,
            values={"abs_gradient": magnitude, "min_abs_gradient": s.min_abs_gradient}
            | ({} if relative is None else {"relative_gradient": relative}),
        )


# --------------------------------------------------------------------------------------------
# SAC


@dataclass(frozen=True, kw_only=True)
class StuckAtChanceSettings:
    """Settings of :class:`StuckAtChance`.

    Attributes:
        from_epoch: First epoch count judged, at least. Default 4: nets that sit on a plateau
            for a few epochs and then break out end among the best; at epoch 2 the rule
            flagged 16 healthy trials in the study, at 3 six (none of the best 20%), and in
            the benchmark's replay a digits-wide net at 2.291 after 3 epochs (ln 10 = 2.303)
            broke out at epoch 4 and ended in its run's top 10 (val_acc 0.955).
        from_fraction: ... or this share of the trial's epochs, if later. Default 0.2 (epoch
            4 of 20; epoch 8 of 40): a task with many short epochs gets as long a plateau.
        share_of_chance: SAC fires when the epoch's ``train_loss`` is at least this share of
            ``CHANCE_LOSS``. Default 0.99.
    """

    from_epoch: int = 4
    from_fraction: float = 0.2
    share_of_chance: float = 0.99

    def __post_init__(self) -> None:
        check_int_at_least("from_epoch", self.from_epoch, 1)
        check_in_unit_interval_open_top("from_fraction", self.from_fraction)
        check_in_unit_interval_open_top("share_of_chance", self.share_of_chance)


class StuckAtChance(Indicator[StuckAtChanceSettings]):
    """SAC, from epoch ``from_epoch`` on: the training loss is still that of a model that
    learned nothing.

    Needs the task's ``CHANCE_LOSS`` (``history.chance_loss``); without it: no verdict. Reads
    ``train_loss``, or the lower of it and ``val_loss`` where the task reports both. A
    NaN/infinite training loss is AGV's business, not this rule's.
    """

    short_name = "SAC"
    stage = "any"
    guarded = True
    settings_type = StuckAtChanceSettings

    def judge(self, history: TrialHistory) -> Verdict | None:
        s = self.settings
        chance = history.chance_loss
        first = max(s.from_epoch, math.ceil(s.from_fraction * history.max_epochs - 1e-9))
        if not math.isfinite(chance) or len(history.epochs) < first:
            return None
        record = history.epochs[-1]
        # Dropout and weight noise inflate the training loss of a net that predicts well:
        # where the task reports val_loss too, stuck means neither of them moved.
        losses = [float(record.metrics.get(name, math.nan)) for name in (LOSS, "val_loss")]
        finite = [v for v in losses if math.isfinite(v)]
        loss = min(finite) if finite else math.nan
        if not math.isfinite(losses[0]) or loss < s.share_of_chance * chance:
            return None
        return Verdict(
            indicator=self.short_name,
            rule=f"train_loss {fmt(loss)} after {len(history.epochs)} epochs is still "
            f">= {fmt(s.share_of_chance)} x the chance level {fmt(chance)}",
            epoch=record.epoch,
            values={"train_loss": loss, "chance_loss": chance},
        )
