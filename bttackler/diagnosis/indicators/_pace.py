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

from bttackler.core.history import EpochRecord, LayerStat, TrialHistory
from bttackler.core.verdict import Verdict, fmt
from bttackler.diagnosis.indicators._base import Indicator
from bttackler.diagnosis.indicators._progress import clearly_falling, loss_drop
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
        confirm_epochs: ... on each of the last this many epochs, not one. Default 2: in
            epoch 1 the probe's overhead budget often leaves one sampled batch, batch 1, the
            second optimizer step, where a warmup from 0 (Hugging Face's linear schedule)
            steps at lr / warmup_steps; a schedule is seen over two epochs.
        max_growth: ... and the steps not growing: the newest epoch's ratio at most this many
            times the one before. Default 2: a warmup's steps grow (the zoo's residual MLP
            under a 2-epoch warmup: 3.5e-4, then 1.1e-3, 2.3e-3; it ended 0.98 of its
            dataset's best), a far too slow training's stay put (x0.5-1.3 from epoch to
            epoch in all 18 of the zoo's).
        within_epochs: Judged after each of the first this many epochs. Default 3 (epochs 2
            and 3 with two epochs of confirmation).
        min_loss_drop: ... and only while the loss is less than this share below where it
            started (:mod:`._progress`): a small learning rate that still makes progress and
            a fine-tune whose few trainable weights are big beside their steps show a falling
            loss. Default 0.03: a net that learns nothing sits within about 1% of the chance
            loss at epoch 2 (the zoo's 18 far too slow trainings; the benchmark's stuck
            trials -0.6% to +0.1%), while slow starters of the digits-wide baselines that
            ended at val_acc 0.87-0.91, in their runs' top 10, were 4-7% below it (0.1 stopped
            them).
    """

    min_update_ratio: float = 2e-4
    reference_epochs: int = 20
    confirm_epochs: int = 2
    max_growth: float = 2.0
    within_epochs: int = 3
    min_loss_drop: float = 0.03

    def __post_init__(self) -> None:
        check_positive("min_update_ratio", self.min_update_ratio)
        check_int_at_least("reference_epochs", self.reference_epochs, 1)
        check_int_at_least("confirm_epochs", self.confirm_epochs, 1)
        check_positive("max_growth", self.max_growth)
        check_int_at_least("within_epochs", self.within_epochs, 1)
        check_positive("min_loss_drop", self.min_loss_drop)


def update_ratio_bound(min_update_ratio: float, reference_epochs: int, max_epochs: int) -> float:
    """TWU's bound for a trial planned for ``max_epochs`` epochs: ``min_update_ratio`` scaled
    by ``reference_epochs / max_epochs``, at most ``min_update_ratio`` (see
    :class:`TinyWeightUpdatesSettings`)."""
    return min_update_ratio * min(1.0, reference_epochs / max(1, max_epochs))


def trained_update_ratio(weights: Sequence[LayerStat]) -> float | None:
    """Median ``update_ratio`` over the layers that moved: a layer that did not move at all
    (0) is frozen (a fine-tune's backbone), not slow, and is left out while any layer moved;
    when none moved the median is 0. None when no layer has the ratio."""
    measured = [float(w.values.get(UPDATE_RATIO, math.nan)) for w in weights]
    finite = [v for v in measured if math.isfinite(v)]
    moved = [v for v in finite if v > 0]
    if not finite:
        return None
    return float(statistics.median(moved)) if moved else 0.0


# Steps far below the bound that "grow" are float32 rounding, not a warmup: an SGD at lr 1e-8
# reads 1e-10 one epoch and 3e-10 the next. A warmup's second epoch steps at no less than a
# hundredth of the bound: its epoch 2 averages about 1.5 / (warmup epochs) of the full rate,
# whose steps are ~1e-2 of the weights, 50x the bound.
GROWTH_FLOOR = 0.01


def growing(steps: Sequence[float], max_growth: float, floor: float) -> bool:
    """The newest of ``steps`` is more than ``max_growth`` times the one before and at least
    ``floor``: a schedule raising the learning rate (see :class:`TinyWeightUpdatesSettings`)."""
    return len(steps) > 1 and steps[-1] > max_growth * steps[-2] and steps[-1] >= floor


class TinyWeightUpdates(Indicator[TinyWeightUpdatesSettings]):
    """TWU, first epochs: each optimizer step moves the weights by a tiny share of their norm,
    on two epochs in a row, the steps are not growing, and the loss is not clearly falling, so
    the trial would need orders of magnitude more epochs than it has.

    Evidence: the weights' ``update_ratio`` (measured by the probe on its sampled batches;
    layers without it are left out, frozen layers too: :func:`trained_update_ratio`; none:
    no verdict) and the training loss (:func:`~._progress.loss_drop`). Why it holds for
    every optimizer: it reads the step the optimizer took, after any rescaling (Adam, RMSprop,
    Adagrad), not the raw gradient; for every schedule: a warmup's small first steps grow from
    epoch to epoch (``max_growth``) and are judged on two epochs, not on epoch 1's one sampled
    batch, and a decayed rate later is out of its epochs; for every architecture: the ratio is
    per layer and scale-free, and frozen layers do not count. The bound shrinks for a trial
    planned for more than ``reference_epochs`` epochs (:func:`update_ratio_bound`).
    """

    short_name = "TWU"
    stage = "any"
    guarded = True
    settings_type = TinyWeightUpdatesSettings

    def judge(self, history: TrialHistory) -> Verdict | None:
        s = self.settings
        if not s.confirm_epochs <= len(history.epochs) <= s.within_epochs:
            return None
        ratios = [trained_update_ratio(r.weights) for r in history.epochs[-s.confirm_epochs :]]
        bound = update_ratio_bound(s.min_update_ratio, s.reference_epochs, history.max_epochs)
        if any(r is None or not r < bound for r in ratios):
            return None
        steps = [r for r in ratios if r is not None]
        if growing(steps, s.max_growth, GROWTH_FLOOR * bound):
            return None  # a warmup
        if clearly_falling(history, s.min_loss_drop):
            return None
        ratio, drop = max(steps), loss_drop(history)
        return Verdict(
            indicator=self.short_name,
            rule=f"median weight update per step <= {fmt(ratio)} of the weights' norm "
            f"< {fmt(bound)} (for {history.max_epochs} epochs) for {s.confirm_epochs} epochs, "
            f"not growing, loss " + _drop_text(drop, s.min_loss_drop),
            epoch=history.epochs[-1].epoch,
            values={"update_ratio": ratio, "min_update_ratio": bound}
            | ({} if drop is None else {"loss_drop": drop}),
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
        confirm_epochs: ... on each of the last this many epochs, not one: a deep net at
            PyTorch's default initialisation starts with vanishing gradients and, under Adam,
            leaves that saddle inside epoch 1 or 2, so one epoch's sampled mean reads 8e-6 or
            1e-3 depending on which batches the probe sampled (the zoo's 8-layer ReLU MLP
            with Adam, val_acc 0.94). Default 2.
        within_epochs: Judged after each of the first this many epochs. Default 3 (so epochs
            2 and 3 with two epochs of confirmation).
        min_loss_drop: ... and only while the loss is less than this share below where it
            started (:mod:`._progress`). Default 0.03, TWU's.
    """

    min_abs_gradient: float = 3e-5
    max_relative_gradient: float = 1e-3
    confirm_epochs: int = 2
    within_epochs: int = 3
    min_loss_drop: float = 0.03

    def __post_init__(self) -> None:
        check_positive("min_abs_gradient", self.min_abs_gradient)
        check_positive("max_relative_gradient", self.max_relative_gradient)
        check_int_at_least("confirm_epochs", self.confirm_epochs, 1)
        check_int_at_least("within_epochs", self.within_epochs, 1)
        check_positive("min_loss_drop", self.min_loss_drop)


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


def vanishing_magnitude(
    record: EpochRecord, min_abs_gradient: float, max_relative_gradient: float
) -> tuple[float, float | None] | None:
    """``(median mean |gradient|, its median share of the weights)`` of one epoch when the
    gradients are vanishing by both (the share unmeasured counts as small); else None."""
    magnitude = median_over_layers(record.grads, ABS_MEAN)
    if magnitude is None or not magnitude < min_abs_gradient:
        return None
    relative = relative_gradient_magnitude(record.grads, record.weights)
    if relative is not None and not relative < max_relative_gradient:
        return None
    return magnitude, relative


def _drop_text(drop: float | None, min_drop: float) -> str:
    if drop is None:
        return "not measured"
    return f"{fmt(100 * drop)}% below its start (< {fmt(100 * min_drop)}%: not clearly falling)"


class VanishingGradientMagnitude(Indicator[VanishingGradientMagnitudeSettings]):
    """VGM, first epochs: gradients are vanishingly small in absolute size (not relative
    between layers, as ERG judges), for ``confirm_epochs`` epochs in a row, while the loss is
    not clearly falling.

    Evidence and why it holds across families: the absolute size alone is no verdict under
    an optimizer that rescales its steps (Adam, RMSprop, Adagrad: a deep ReLU MLP at default
    initialisation learns from gradients of 1e-5), so the rule also needs the gradients small
    beside the weights (:func:`relative_gradient_magnitude`: tiny-init nets have gradients in
    proportion), small on consecutive epochs (one epoch's sampled mean is noisy while a net
    leaves its starting saddle), and the training loss not clearly falling
    (:func:`~._progress.loss_drop`): a schedule's warmup or a slow start that is learning
    shows in the loss. What is left are nets whose loss stays put because nothing reaches the
    early layers: saturated sigmoids, 20-layer ReLU stacks at batch 16, dead nets."""

    short_name = "VGM"
    stage = "any"
    guarded = True
    settings_type = VanishingGradientMagnitudeSettings

    def judge(self, history: TrialHistory) -> Verdict | None:
        s = self.settings
        count = len(history.epochs)
        if not s.confirm_epochs <= count <= s.within_epochs:
            return None
        found = [
            vanishing_magnitude(record, s.min_abs_gradient, s.max_relative_gradient)
            for record in history.epochs[-s.confirm_epochs :]
        ]
        if any(f is None for f in found) or clearly_falling(history, s.min_loss_drop):
            return None
        magnitude, relative = max((f for f in found if f is not None), key=lambda f: f[0])
        drop = loss_drop(history)
        return Verdict(
            indicator=self.short_name,
            rule=f"median mean |gradient| over layers <= {fmt(magnitude)} < "
            f"{fmt(s.min_abs_gradient)} for {s.confirm_epochs} epochs, loss "
            + _drop_text(drop, s.min_loss_drop),
            epoch=history.epochs[-1].epoch,
            values={"abs_gradient": magnitude, "min_abs_gradient": s.min_abs_gradient}
            | ({} if relative is None else {"relative_gradient": relative})
            | ({} if drop is None else {"loss_drop": drop}),
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

    Evidence and why it holds across families: the loss itself against the loss of knowing
    nothing, from epoch 4 (or 20% of the epochs) on: however an optimizer scales its steps or a
    schedule warms up, a training still at chance that late has learned nothing; dropout and
    label smoothing only raise the training loss, so the lower of training and validation
    loss is read.
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
