"""Pace indicators on hand-built histories: TWU, VGM (first epochs) and SAC (chance level)."""

from __future__ import annotations

import math

import pytest

from bttackler.core.history import EpochRecord, LayerStat, TrialHistory
from bttackler.diagnosis.indicators import (
    SAC,
    TWU,
    VGM,
    StuckAtChanceSettings,
    TinyWeightUpdatesSettings,
    VanishingGradientMagnitudeSettings,
    median_over_layers,
)
from bttackler.diagnosis.indicators._pace import relative_gradient_magnitude, update_ratio_bound

LN10 = math.log(10)


def layers(stat: str, *values: float) -> tuple[LayerStat, ...]:
    return tuple(LayerStat(i, f"fc{i}", {stat: v}) for i, v in enumerate(values))


def history(
    *epochs: EpochRecord, chance_loss: float = math.nan, max_epochs: int = 20
) -> TrialHistory:
    return TrialHistory(1, {}, max_epochs, tuple(epochs), chance_loss=chance_loss)


def updates(epoch: int, *ratios: float) -> EpochRecord:
    return EpochRecord(epoch, {"train_loss": 1.0}, weights=layers("update_ratio", *ratios))


def gradients(epoch: int, *abs_means: float) -> EpochRecord:
    return EpochRecord(epoch, {"train_loss": 1.0}, grads=layers("abs_mean", *abs_means))


def loss(epoch: int, value: float) -> EpochRecord:
    return EpochRecord(epoch, {"train_loss": value})


def test_median_over_layers_skips_what_was_not_measured() -> None:
    assert median_over_layers(layers("x", 1.0, math.nan, 3.0, 5.0), "x") == 3.0
    assert median_over_layers(layers("x", math.nan), "x") is None
    assert median_over_layers((), "x") is None


def twice(*ratios: float, loss: float = 1.0) -> tuple[EpochRecord, EpochRecord]:
    """Two epochs whose sampled steps read ``ratios`` (per layer) both times."""
    return (
        EpochRecord(0, {"train_loss": loss}, weights=layers("update_ratio", *ratios)),
        EpochRecord(1, {"train_loss": loss}, weights=layers("update_ratio", *ratios)),
    )


def test_twu_fires_on_two_epochs_of_tiny_steps() -> None:
    assert TWU().check(history(updates(0, 1e-5, 5e-5, 3e-4))) is None  # one epoch: not yet
    verdict = TWU().check(history(updates(0, 1e-5, 5e-5, 3e-4), updates(1, 1e-5, 6e-5, 3e-4)))
    assert verdict is not None and verdict.indicator == "TWU"
    assert verdict.values["update_ratio"] == 6e-5  # the larger of the two epochs
    assert "median weight update per step" in verdict.rule and "for 2 epochs" in verdict.rule


def test_twu_leaves_useful_steps_and_later_epochs_alone() -> None:
    assert TWU().check(history(*twice(1e-2, 5e-3, 2e-2))) is None
    assert TWU().check(history(*twice(2e-4, 2e-4))) is None  # at the bound: healthy
    late = history(*twice(1e-2), updates(2, 1e-2), updates(3, 1e-6), updates(4, 1e-6))
    assert TWU().check(late) is None  # past within_epochs: a decayed lr is not a symptom
    assert TWU().check(history(*twice(math.nan))) is None  # not measured: no verdict
    one_tiny = history(updates(0, 1e-2), updates(1, 1e-5))
    assert TWU().check(one_tiny) is None  # one epoch of tiny steps is not two


def test_twu_spares_growing_steps() -> None:
    # the zoo's res16-mom-warm (residual MLP, momentum SGD, 2-epoch warmup; 0.98 of its
    # dataset's best): 3.5e-4 then 1.1e-3. A warmup from 0 whose epoch 1 sampled batch 1
    # alone reads far lower still, and grows as much.
    assert TWU().check(history(updates(0, 1e-5), updates(1, 1.5e-4))) is None  # x15: warmup
    assert TWU().check(history(updates(0, 8e-5), updates(1, 1.5e-4))) is not None  # x1.9
    # far below the bound, "growth" is float32 rounding (SGD at lr 1e-8), not a warmup
    assert TWU().check(history(updates(0, 1e-10), updates(1, 3e-10))) is not None


def test_twu_leaves_frozen_layers_out() -> None:
    # a fine-tune: the backbone's layers do not move at all, the head steps 2e-2
    assert TWU().check(history(*twice(0.0, 0.0, 0.0, 2e-2))) is None
    # a net whose every layer stopped moving (dead, zero gradients) is still judged
    assert TWU().check(history(*twice(0.0, 0.0))) is not None


def test_twu_spares_a_clearly_falling_loss() -> None:
    assert TWU().check(history(*twice(5e-5, 5e-5, loss=1.8), chance_loss=LN10)) is None
    assert TWU().check(history(*twice(5e-5, 5e-5, loss=2.3), chance_loss=LN10)) is not None


def test_twu_bound_shrinks_for_trials_planned_for_more_epochs() -> None:
    # diabetesmlp trial 200 (tpe seed 2) stepped 1.74e-4 of its weights per step in epoch 1
    # of 40 and ended 3rd of its run: twice the epochs of the 20 the bound was set for.
    assert TWU().check(history(*twice(1.74e-4), max_epochs=40)) is None
    assert TWU().check(history(*twice(0.9e-4), max_epochs=40)) is not None  # < 1e-4
    assert TWU().check(history(*twice(1.74e-4), max_epochs=20)) is not None
    # never stricter than measured for shorter trials
    assert TWU().check(history(*twice(3e-4), max_epochs=5)) is None
    assert update_ratio_bound(2e-4, 20, 40) == pytest.approx(1e-4)
    assert update_ratio_bound(2e-4, 20, 10) == pytest.approx(2e-4)


def test_vgm_fires_on_two_epochs_of_vanishing_gradient_magnitude() -> None:
    tiny = [gradients(0, 1e-6, 2e-5, 1e-3), gradients(1, 1e-6, 1e-5, 1e-3)]
    assert VGM().check(history(tiny[0])) is None  # one epoch's sampled mean is not enough
    verdict = VGM().check(history(*tiny))
    assert verdict is not None and verdict.values["abs_gradient"] == 2e-5  # the larger one
    assert "for 2 epochs" in verdict.rule
    assert VGM().check(history(gradients(0, 1e-3, 2e-3), gradients(1, 1e-3, 2e-3))) is None
    late = history(gradients(0, 1e-3), gradients(1, 1e-3), gradients(2, 1e-6), gradients(3, 1e-6))
    assert VGM().check(late) is None  # past within_epochs (3)


def test_vgm_spares_a_net_leaving_its_starting_saddle() -> None:
    # the zoo's deep-relu8-adam-5e-3 (8-layer ReLU MLP, Adam, default init; val_acc 0.94):
    # one process sampled epoch 1's gradients at 7.6e-6, another at 1.1e-3; epoch 2 9e-3
    saddle = [gradients(0, 7.6e-6, 7.6e-6), gradients(1, 9e-3, 9e-3)]
    assert VGM().check(history(*saddle, chance_loss=LN10)) is None


def test_vgm_spares_a_clearly_falling_loss() -> None:
    def epoch(e: int, value: float) -> EpochRecord:
        return EpochRecord(e, {"train_loss": value}, grads=layers("abs_mean", 1e-6, 1e-6))

    falling = history(epoch(0, 2.3), epoch(1, 1.9), chance_loss=LN10)  # 17% below ln 10
    assert VGM().check(falling) is None
    flat = history(epoch(0, 2.3), epoch(1, 2.25), chance_loss=LN10)  # 2% below
    verdict = VGM().check(flat)
    assert verdict is not None and "not clearly falling" in verdict.rule
    assert verdict.values["loss_drop"] == pytest.approx(1 - 2.25 / LN10)


def with_weights(record: EpochRecord, *abs_means: float) -> EpochRecord:
    weights = layers("abs_mean", *abs_means)
    return EpochRecord(record.epoch, record.metrics, weights=weights, grads=record.grads)


def test_vgm_spares_tiny_weights_whose_gradients_are_small_in_proportion() -> None:
    # diabetesmlp trial 27 (random seed 1): tanh, init scale 0.03, adam; epoch 1 gradients
    # 1.5e-5 but 1e-2 of its weights (mean |w| ~1.4e-3); it broke out at epoch 6 of 40 and
    # ended 9th of its run.
    grads = gradients(0, 5.8e-7, 1.95e-6, 2.7e-5, 1.85e-2)
    tiny_init = with_weights(grads, 5.1e-3, 1.3e-3, 1.4e-3, 1.35e-3)
    assert VGM().check(history(tiny_init, tiny_init, max_epochs=40)) is None
    assert relative_gradient_magnitude(tiny_init.grads, tiny_init.weights) > 1e-3
    # the same gradients beside weights of PyTorch's default scale: vanishing
    usual = with_weights(tiny_init, 0.04, 0.04, 0.04, 0.04)
    verdict = VGM().check(history(usual, usual, max_epochs=40))
    assert verdict is not None and verdict.values["relative_gradient"] < 1e-3
    assert relative_gradient_magnitude(usual.grads, ()) is None  # no weights: absolute alone


def test_sac_fires_from_epoch_four_at_the_chance_level() -> None:
    stuck = [loss(0, 2.31), loss(1, 2.305), loss(2, 2.291), loss(3, 2.303)]
    assert SAC().check(history(*stuck[:3], chance_loss=LN10)) is None  # a plateau may end
    verdict = SAC().check(history(*stuck, chance_loss=LN10))
    assert verdict is not None and verdict.values["chance_loss"] == LN10
    assert "chance level" in verdict.rule


def test_sac_spares_a_net_whose_validation_loss_moved() -> None:
    """Dropout keeps the training loss up while the net predicts well."""
    records = [EpochRecord(e, {"train_loss": 2.31, "val_loss": 1.2}) for e in range(4)]
    assert SAC().check(history(*records, chance_loss=LN10)) is None


def test_sac_waits_longer_on_tasks_with_many_epochs() -> None:
    stuck = [loss(e, 1.0) for e in range(8)]
    assert SAC().check(history(*stuck[:7], chance_loss=1.0, max_epochs=40)) is None
    assert SAC().check(history(*stuck, chance_loss=1.0, max_epochs=40)) is not None


def test_sac_leaves_learning_trials_and_tasks_without_chance_loss_alone() -> None:
    learning = [loss(0, 2.2), loss(1, 1.5), loss(2, 0.9), loss(3, 0.7)]
    assert SAC().check(history(*learning, chance_loss=LN10)) is None
    stuck = [loss(0, 2.31), loss(1, 2.305), loss(2, 2.303), loss(3, 2.303)]
    assert SAC().check(history(*stuck)) is None  # the task has no CHANCE_LOSS
    diverged = [loss(0, 2.31), loss(1, math.nan), loss(2, math.nan), loss(3, math.nan)]
    assert SAC().check(history(*diverged, chance_loss=LN10)) is None  # AGV's business


@pytest.mark.parametrize(
    ("settings", "field", "bad"),
    [
        (TinyWeightUpdatesSettings, "min_update_ratio", 0.0),
        (TinyWeightUpdatesSettings, "within_epochs", 0),
        (TinyWeightUpdatesSettings, "reference_epochs", 0),
        (VanishingGradientMagnitudeSettings, "min_abs_gradient", -1.0),
        (VanishingGradientMagnitudeSettings, "max_relative_gradient", 0.0),
        (VanishingGradientMagnitudeSettings, "confirm_epochs", 0),
        (VanishingGradientMagnitudeSettings, "min_loss_drop", 0.0),
        (TinyWeightUpdatesSettings, "min_loss_drop", -0.1),
        (TinyWeightUpdatesSettings, "confirm_epochs", 0),
        (TinyWeightUpdatesSettings, "max_growth", 0.0),
        (StuckAtChanceSettings, "from_epoch", 0),
        (StuckAtChanceSettings, "share_of_chance", 1.5),
    ],
)
def test_settings_validate(settings: type, field: str, bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        settings(**{field: bad})
