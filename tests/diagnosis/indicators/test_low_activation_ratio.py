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
    v = LAR().check(history((0.4, 0.4), (0.4, 0.9995), (0.4, 1.0)))
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
    h = history((0.999, 0.4), (0.999, 0.4))
    assert LAR().check(h) is None
    assert LAR(LowActivationRatioSettings(threshold=0.998)).check(h) is not None
    # a few live units carried good digits-wide trials at 99.6% inactive: not dead
    assert LAR().check(history((0.996, 0.4), (0.996, 0.4))) is None


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


# ------------------------------------------------------- models without activation modules
def grads_only(*epochs: tuple[float, ...]) -> TrialHistory:
    """Epochs whose only layer statistics are gradient zero ratios (layer i: value i)."""
    records = tuple(
        EpochRecord(
            e,
            {},
            grads=tuple(LayerStat(i, f"fc{i}", {"zero_ratio": r}) for i, r in enumerate(ratios)),
        )
        for e, ratios in enumerate(epochs)
    )
    return TrialHistory(1, {}, 10, records)


def test_without_activation_modules_the_zero_gradient_share_is_read() -> None:
    verdict = LAR().check(grads_only((0.0, 1.0, 0.2), (0.0, 1.0, 0.3)))
    assert verdict is not None
    assert "layer fc1 zero-gradient share 1 > 0.999" in verdict.rule


def test_the_first_layers_zero_gradients_come_from_the_data_not_dead_units() -> None:
    assert LAR().check(grads_only((1.0, 0.1), (1.0, 0.1))) is None


def test_functional_relu_that_died_is_caught_through_the_probe() -> None:
    """torch.relu in forward (no module to hook): every unit dead -> the next layer's weight
    gradient is all zeros -> LAR fires on the zero-gradient share."""
    import torch
    from torch import nn

    from bttackler.core.history import STAT_NAMES
    from bttackler.trialside.probe import Probe

    class FunctionalNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    model = FunctionalNet()
    with torch.no_grad():
        model.fc1.bias.fill_(-100.0)  # every unit of the first hidden layer is dead
    rows: list[tuple[str, int, str, list[float]]] = []
    probe = Probe(model, lambda k, i, n, v: rows.append((k, i, n, list(v))), stats_every=1,
                  overhead_budget=None)  # fmt: skip
    records = []
    for epoch in range(2):
        for _ in range(3):
            model.zero_grad()
            model(torch.randn(16, 4)).pow(2).mean().backward()
        rows.clear()
        probe.flush(epoch)
        grads = tuple(
            LayerStat(i, name, dict(zip(STAT_NAMES, values)))
            for kind, i, name, values in rows
            if kind == "grad"
        )
        assert not [r for r in rows if r[0] == "activation"]  # nothing to hook
        records.append(EpochRecord(epoch, {}, grads=grads))
    verdict = LAR().check(TrialHistory(1, {}, 10, tuple(records)))
    assert verdict is not None and "zero-gradient share" in verdict.rule
