from __future__ import annotations

import math

import pytest

from bttackler.core.history import EpochRecord, LayerStat, TrialHistory
from bttackler.diagnosis.indicators import LAR, LowActivationRatioSettings, dead_layers


def history(*epochs: tuple[float, ...], max_epochs: int = 10) -> TrialHistory:
    records = tuple(
        EpochRecord(
            epoch=i + 1,
            metrics={"train_loss": 1.0},
            activations=tuple(
                LayerStat(index=j, name=f"relu{j}", values={"inactive_ratio": r})
                for j, r in enumerate(ratios)
            ),
        )
        for i, ratios in enumerate(epochs)
    )
    return TrialHistory(trial_id=0, params={}, max_epochs=max_epochs, epochs=records)


def test_healthy_relu_layers_are_left_alone() -> None:
    assert LAR().check(history((0.3, 0.53), (0.45, 0.5), (0.35, 0.52))) is None


def test_dead_layer_two_epochs_running_fires() -> None:
    v = LAR().check(history((0.4, 0.4), (0.4, 0.999), (0.4, 1.0)))
    assert v is not None and v.indicator == "LAR" and v.epoch == 3
    assert v.values["layer"] == 1.0 and v.values["inactive_ratio"] == 1.0 and "relu1" in v.rule


def test_one_dead_epoch_is_not_enough_by_default() -> None:
    assert LAR().check(history((0.4, 1.0))) is None
    assert LAR().check(history((0.4, 1.0), (0.4, 0.5))) is None
    one = LowActivationRatioSettings(consecutive_epochs=1)
    assert LAR(one).check(history((0.4, 1.0))) is not None


def test_different_layers_dead_in_different_epochs_do_not_add_up() -> None:
    assert LAR().check(history((1.0, 0.4), (0.4, 1.0))) is None
    assert dead_layers(history((1.0, 1.0), (1.0, 1.0)), 0.99, 2) == [0, 1]


def test_at_threshold_does_not_fire() -> None:
    h = history((0.99, 0.4), (0.99, 0.4))
    assert LAR().check(h) is None
    assert LAR(LowActivationRatioSettings(threshold=0.98)).check(h) is not None


def test_nan_ratios_are_ignored_and_any_stage() -> None:
    assert LAR().check(history((math.nan,), (math.nan,))) is None
    assert LAR().check(history()) is None
    late = history(*[(0.4,)] * 8 + [(1.0,), (1.0,)], max_epochs=10)
    assert LAR().check(late) is not None


@pytest.mark.parametrize(
    ("field", "bad"),
    [("threshold", 1.0), ("threshold", -0.1), ("threshold", "0.9"), ("consecutive_epochs", 0)],
)
def test_settings_validate(field: str, bad: object) -> None:
    with pytest.raises(ValueError, match=field):
        LowActivationRatioSettings(**{field: bad})  # type: ignore[arg-type]
