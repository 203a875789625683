"""Verdicts inside epoch 1: LAR1 (a layer dead from the start) and PLC1 (a loss flat at chance).

LAR needs two epochs and PLC three; part of their evidence exists long before. Once per trial,
after its first batches (12 by default; at the end of epoch 1 if that is shorter), the probe
writes a provisional record, :class:`~bttackler.core.history.EarlyEvidence` (see
:mod:`bttackler.trialside.early`): per activation layer its smallest inactive ratio over the
batches sampled so far, and the mean per-batch training loss of the first and the last third
of those batches. These two rules judge it, and only it: they speak while the trial is still
in the epoch the record came from (its verdict epoch is 1, inside epoch 1), never later, where
LAR, PLC and SAC judge whole epochs.

The guard does not apply: inside epoch 1 no trial has a recorded loss to compare.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bttackler.core.history import EarlyEvidence, TrialHistory
from bttackler.core.verdict import Verdict, fmt
from bttackler.diagnosis.indicators._base import Indicator
from bttackler.diagnosis.settings_table import (
    check_in_unit_interval_open_top,
    check_int_at_least,
    check_non_negative,
)


def pending_early(history: TrialHistory) -> EarlyEvidence | None:
    """The trial's inside-epoch-1 record while it is still the newest news of the trial (no
    epoch closed since it was written); None otherwise."""
    early = history.early
    if early is None or len(history.epochs) != early.epoch:
        return None
    return early


def flat_loss_gain(early: EarlyEvidence) -> float | None:
    """PLC1's measure: ``(loss_first - loss_last) / loss_first``, how much lower the mean
    batch loss of the last third of the early batches is than that of the first third.
    None without two finite positive means."""
    first, last = early.loss_first, early.loss_last
    if not (math.isfinite(first) and math.isfinite(last)) or first <= 0:
        return None
    return (first - last) / first


# --------------------------------------------------------------------------------------------
# LAR1


@dataclass(frozen=True, kw_only=True)
class EarlyDeadLayerSettings:
    """Settings of :class:`EarlyDeadLayer`.

    Attributes:
        threshold: LAR1 fires when a layer's inactive ratio is above it (strictly) on every
            sampled batch so far. Default 0.999, LAR's: under 0.1% of the outputs alive.
        min_sampled: Fewest sampled batches the record must hold. Default 1: in epoch 1 the
            probe's overhead budget (1% of the epoch) is spent by its first sample, so the
            second batch due (11) was skipped in every record of the digits-wide baseline
            runs, and 2 would never fire; batch 1 is after one optimizer step. Replay of those
            runs found no trial above 0.999 on batch 1 but a diverging one (val_acc 0.10).
    """

    threshold: float = 0.999
    min_sampled: int = 1

    def __post_init__(self) -> None:
        check_in_unit_interval_open_top("threshold", self.threshold)
        check_int_at_least("min_sampled", self.min_sampled, 1)


class EarlyDeadLayer(Indicator[EarlyDeadLayerSettings]):
    """LAR1, inside epoch 1: an activation layer dead on every batch sampled so far.

    Positive when the inside-epoch-1 record (:func:`pending_early`) holds at least
    ``min_sampled`` sampled batches and its ``dead_ratio`` (the largest, over layers, of a
    layer's smallest inactive ratio) is above ``threshold``. No record, a NaN ratio (no
    activation module), or an epoch closed since the record: no verdict.

    Evidence and why it holds across families: as LAR's, the share of exactly-zero outputs,
    here on every batch sampled inside epoch 1; a layer that dead gets no gradient to revive
    it under any optimizer or schedule (the zoo's residual MLP with biases at -3).
    """

    short_name = "LAR1"
    stage = "any"
    guarded = False
    settings_type = EarlyDeadLayerSettings

    def judge(self, history: TrialHistory) -> Verdict | None:
        s = self.settings
        early = pending_early(history)
        if early is None or early.sampled < s.min_sampled or not early.dead_ratio > s.threshold:
            return None
        return Verdict(
            indicator=self.short_name,
            rule=f"inside epoch {early.epoch + 1}, after {early.batches} batches: layer "
            f"{early.dead_layer} inactive ratio >= {fmt(early.dead_ratio)} > "
            f"{fmt(s.threshold)} on every one of {early.sampled} sampled batches",
            epoch=history.current_epoch(),
            values={
                "inactive_ratio": early.dead_ratio,
                "threshold": s.threshold,
                "layer": float(early.dead_index),
                "sampled_batches": float(early.sampled),
                "batches": float(early.batches),
            },
        )


# --------------------------------------------------------------------------------------------
# PLC1


@dataclass(frozen=True, kw_only=True)
class EarlyFlatLossSettings:
    """Settings of :class:`EarlyFlatLoss`.

    Attributes:
        min_batches: Fewest per-batch losses the record must hold. Default 9 (a window of 3
            batches at each end): fewer and one noisy batch decides.
        tolerance: PLC1 fires when the mean batch loss of the last third is lower than that of
            the first third by less than this share of it. Default 0.01. PLC1 is not in the
            default ``enabled`` list: on the digits-wide baselines good trials (val_acc 0.93,
            0.958) sat at the chance loss for their first 12 batches (gain -0.004% and 0.6%)
            exactly like stuck ones, as SAC's plateaus that break out after epochs.
        share_of_chance: ...and the last third's mean is at least this share of the task's
            ``CHANCE_LOSS`` (no verdict without one). Default 0.99, SAC's: a loss that does
            not move but is already below chance is a slow learner, not a stuck one.
    """

    min_batches: int = 9
    tolerance: float = 0.01
    share_of_chance: float = 0.99

    def __post_init__(self) -> None:
        check_int_at_least("min_batches", self.min_batches, 3)
        check_non_negative("tolerance", self.tolerance)
        check_in_unit_interval_open_top("share_of_chance", self.share_of_chance)


class EarlyFlatLoss(Indicator[EarlyFlatLossSettings]):
    """PLC1, inside epoch 1: the training loss has not moved off the chance level.

    Positive when the inside-epoch-1 record (:func:`pending_early`) holds at least
    ``min_batches`` batch losses, :func:`flat_loss_gain` is below ``tolerance`` (a loss that
    rose counts as not moved) and the last third's mean loss is at least ``share_of_chance``
    times ``history.chance_loss``. Without the task's ``CHANCE_LOSS``, without batch losses
    (the task does not call ``trial.batch_loss``) or with a non-finite one: no verdict.

    Evidence and why it is off by default: a dozen batch losses against the chance level.
    That holds for no optimizer or schedule in general: a deep net at default initialisation
    and any warmup sit at chance for their first batches and then learn (SAC waits to epoch 4
    for the same reason); enable it only where slow starts are rare.
    """

    short_name = "PLC1"
    stage = "any"
    guarded = False
    settings_type = EarlyFlatLossSettings

    def judge(self, history: TrialHistory) -> Verdict | None:
        s = self.settings
        early = pending_early(history)
        chance = history.chance_loss
        if early is None or early.losses < s.min_batches or not math.isfinite(chance):
            return None
        gain = flat_loss_gain(early)
        if gain is None or not gain < s.tolerance:
            return None
        if early.loss_last < s.share_of_chance * chance:
            return None
        return Verdict(
            indicator=self.short_name,
            rule=f"inside epoch {early.epoch + 1}, after {early.batches} batches: mean batch loss "
            f"{fmt(early.loss_first)} -> {fmt(early.loss_last)} ({fmt(100 * gain)}% lower "
            f"< {fmt(100 * s.tolerance)}%), still >= {fmt(s.share_of_chance)} x the chance "
            f"level {fmt(chance)}",
            epoch=history.current_epoch(),
            values={
                "relative_gain": gain,
                "tolerance": s.tolerance,
                "loss_first": early.loss_first,
                "loss_last": early.loss_last,
                "chance_loss": chance,
                "batches": float(early.batches),
            },
        )
