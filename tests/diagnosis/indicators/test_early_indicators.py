"""Verdicts inside epoch 1 on hand-built histories: LAR1 (dead layer) and PLC1 (flat loss)."""

from __future__ import annotations

import math

import pytest

from bttackler.core.history import EarlyEvidence, EpochRecord, TrialHistory
from bttackler.diagnosis.indicators import (
    LAR1,
    PLC1,
    EarlyDeadLayerSettings,
    EarlyFlatLossSettings,
    build_indicators,
    flat_loss_gain,
    pending_early,
)

LN10 = math.log(10)


def evidence(
    *,
    dead_ratio: float = 0.5,
    sampled: int = 2,
    losses: int = 12,
    first: float = 2.0,
    last: float = 1.0,
    epoch: int = 0,
) -> EarlyEvidence:
    return EarlyEvidence(epoch, 12, sampled, dead_ratio, "acts.3", 7, losses, first, last,
                         losses // 3)  # fmt: skip


def history(
    early: EarlyEvidence | None, *epochs: EpochRecord, chance_loss: float = LN10
) -> TrialHistory:
    return TrialHistory(1, {}, 20, tuple(epochs), chance_loss=chance_loss, early=early)


def test_record_values_round_trip() -> None:
    e = evidence(dead_ratio=math.nan)
    back = EarlyEvidence.from_values(0, 7, "acts.3", e.to_values())
    assert back.to_values()[3:] == e.to_values()[3:] and math.isnan(back.dead_ratio)
    assert (back.batches, back.sampled, back.dead_layer, back.dead_index) == (12, 2, "acts.3", 7)


def test_a_layer_dead_on_every_sampled_batch_stops_the_trial_inside_epoch_1() -> None:
    verdict = LAR1().check(history(evidence(dead_ratio=0.9995)))
    assert verdict is not None and verdict.indicator == "LAR1"
    assert verdict.epoch == 1  # the epoch in progress
    assert verdict.rule.startswith("inside epoch 1, after 12 batches: layer acts.3")
    assert verdict.values["layer"] == 7 and verdict.values["sampled_batches"] == 2


@pytest.mark.parametrize(
    ("ratio", "sampled", "fires"),
    [(0.999, 2, False), (0.98, 2, False), (math.nan, 2, False), (1.0, 1, False), (1.0, 2, True)],
)
def test_lar1_threshold_is_strict_and_needs_its_samples(ratio, sampled, fires) -> None:
    rule = LAR1(EarlyDeadLayerSettings(min_sampled=2))
    assert (rule.check(history(evidence(dead_ratio=ratio, sampled=sampled))) is not None) is fires
    assert LAR1().check(history(evidence(dead_ratio=1.0, sampled=1)))  # default: 1 sample
    assert LAR1().check(history(evidence(dead_ratio=1.0, sampled=0))) is None


def test_the_early_rules_are_silent_once_an_epoch_closed_after_the_record() -> None:
    dead = evidence(dead_ratio=1.0, first=LN10, last=LN10)
    closed = history(dead, EpochRecord(0, {"train_loss": LN10}))
    assert pending_early(closed) is None
    assert LAR1().check(closed) is None and PLC1().check(closed) is None
    assert LAR1().check(history(None)) is None and PLC1().check(history(None)) is None


def test_a_loss_flat_at_chance_stops_the_trial_inside_epoch_1() -> None:
    verdict = PLC1().check(history(evidence(first=2.305, last=2.300)))
    assert verdict is not None and verdict.indicator == "PLC1" and verdict.epoch == 1
    assert verdict.rule.startswith("inside epoch 1, after 12 batches: mean batch loss 2.305")
    assert verdict.values["relative_gain"] == pytest.approx(0.005 / 2.305)


@pytest.mark.parametrize(
    ("first", "last", "chance", "losses", "fires"),
    [
        (2.30, 2.31, LN10, 12, True),  # rose: not moved either
        (2.35, 2.30, LN10, 12, False),  # 2.1% lower: moving
        (1.50, 1.50, LN10, 12, False),  # flat, but far below chance: a slow learner
        (2.30, 2.30, math.nan, 12, False),  # no CHANCE_LOSS: no verdict
        (2.30, 2.30, LN10, 6, False),  # too few batch losses
        (math.nan, math.nan, LN10, 0, False),  # the task reported no batch loss
    ],
)
def test_plc1_needs_flat_at_chance(first, last, chance, losses, fires) -> None:
    e = evidence(first=first, last=last, losses=losses)
    assert (PLC1().check(history(e, chance_loss=chance)) is not None) is fires


def test_flat_loss_gain() -> None:
    assert flat_loss_gain(evidence(first=2.0, last=1.5)) == pytest.approx(0.25)
    assert flat_loss_gain(evidence(first=0.0, last=1.0)) is None
    assert flat_loss_gain(evidence(first=math.inf, last=1.0)) is None


def test_settings_are_checked_and_read_from_the_config() -> None:
    with pytest.raises(ValueError, match="min_batches"):
        EarlyFlatLossSettings(min_batches=2)
    with pytest.raises(ValueError, match="threshold"):
        EarlyDeadLayerSettings(threshold=1.5)
    built = build_indicators({"enabled": ["LAR1", "PLC1"], "PLC1": {"tolerance": 0.05}})
    assert [i.short_name for i in built] == ["LAR1", "PLC1"]
    assert built[1].settings.tolerance == 0.05
