"""AGV, EAG, ERG on hand-built histories."""

from __future__ import annotations

import math

import pytest

from bttackler.core.history import EpochRecord, LayerStat, NonFiniteEvent, TrialHistory
from bttackler.diagnosis.indicators import (
    AGV,
    EAG,
    ERG,
    AbnormalGradientValues,
    AbnormalGradientValuesSettings,
    ExponentiallyAmplifiedGradients,
    ExponentiallyAmplifiedGradientsSettings,
    ExponentiallyReducedGradients,
    ExponentiallyReducedGradientsSettings,
    adjacent_gradient_ratios,
    compounded_gradient_ratio,
    median_gradient_ratio,
)


def grads(*abs_means: float, **extra: float) -> tuple[LayerStat, ...]:
    stats = []
    for i, m in enumerate(abs_means):
        values = {
            "abs_mean": m,
            "abs_max": 10 * m if math.isfinite(m) else m,
            "nan_count": 0.0,
            "inf_count": 0.0,
        }
        values.update(extra)
        stats.append(LayerStat(index=i, name=f"fc{i}", values=values))
    return tuple(stats)


def history(
    grad_epochs: list[tuple[LayerStat, ...]],
    *,
    max_epochs: int = 10,
    losses: list[float] | None = None,
    nonfinite: tuple[NonFiniteEvent, ...] = (),
) -> TrialHistory:
    losses = losses or [1.0] * len(grad_epochs)
    epochs = tuple(
        EpochRecord(epoch=i + 1, metrics={"train_loss": loss}, grads=g)
        for i, (g, loss) in enumerate(zip(grad_epochs, losses))
    )
    return TrialHistory(
        trial_id=0, params={}, max_epochs=max_epochs, epochs=epochs, nonfinite=nonfinite
    )


# ---- the pure ratio functions -------------------------------------------------------------


def test_ratios_are_input_side_over_output_side_in_index_order() -> None:
    layers = tuple(reversed(grads(0.1, 0.2, 0.4)))  # given out of order
    assert adjacent_gradient_ratios(layers) == [0.5, 0.5]
    assert median_gradient_ratio(layers) == 0.5


def test_zero_gradients_give_zero_or_inf_and_zero_over_zero_is_dropped() -> None:
    assert adjacent_gradient_ratios(grads(0.0, 1.0)) == [0.0]
    assert adjacent_gradient_ratios(grads(1.0, 0.0)) == [math.inf]
    assert adjacent_gradient_ratios(grads(0.0, 0.0)) == []
    assert adjacent_gradient_ratios(grads(math.nan, 1.0, 2.0)) == [0.5]


def test_fewer_than_two_layers_has_no_median() -> None:
    assert median_gradient_ratio(grads(1.0)) is None
    assert median_gradient_ratio(()) is None


# ---- ERG --------------------------------------------------------------------------------


def test_erg_fires_on_vanishing_gradients() -> None:
    v = ERG().check(history([grads(1e-6, 1e-4, 1e-2, 1.0)]))
    assert v is not None and v.indicator == "ERG" and v.epoch == 1 and not v.benign
    assert v.values["median_ratio"] == pytest.approx(0.01)
    assert "0.01 < 0.02" in v.rule


@pytest.mark.parametrize("ratio", [0.15, 0.3, 0.45])
def test_erg_and_eag_leave_measured_healthy_ratios_alone(ratio: float) -> None:
    h = history([grads(ratio**3, ratio**2, ratio, 1.0)])
    assert ERG().check(h) is None
    assert EAG().check(h) is None


def test_erg_at_threshold_does_not_fire() -> None:
    h = history([grads(0.25, 0.5, 1.0)])  # median exactly 0.5
    assert ERG(ExponentiallyReducedGradientsSettings(lower_bound=0.5)).check(h) is None
    assert ERG(ExponentiallyReducedGradientsSettings(lower_bound=0.5000001)).check(h) is not None


def test_erg_only_in_early_stage() -> None:
    epochs = [grads(1e-6, 1e-4, 1e-2)] * 6
    assert ERG().check(history(epochs[:5], max_epochs=10)) is not None  # 5 <= 0.5 * 10
    assert ERG().check(history(epochs, max_epochs=10)) is None  # 6 > 5: late
    assert ERG(early_fraction=0.6).check(history(epochs, max_epochs=10)) is not None


def test_erg_ignores_nan_and_needs_two_layers() -> None:
    assert ERG().check(history([grads(math.nan, math.nan, 1.0)])) is None
    assert ERG().check(history([grads(1e-9)])) is None
    assert ERG().check(history([])) is None
    # a layer with exactly zero gradient on the input side: ratio 0, counted
    assert ERG().check(history([grads(0.0, 1e-3, 1.0)])) is not None


def test_erg_and_eag_need_two_layer_pairs_to_see_a_compounding_ratio() -> None:
    # A one-hidden-layer regression MLP of the benchmark (diabetesmlp trial 17, tpe seed 1,
    # the run's best): its single ratio was 0.014 at epoch 4 and ERG killed it. One pair of
    # layers shows their shapes, not a decay compounding with depth.
    assert ERG().check(history([grads(0.014, 1.0)])) is None
    assert EAG().check(history([grads(50.0, 1.0)])) is None
    assert compounded_gradient_ratio(grads(0.014, 1.0)) is None
    assert median_gradient_ratio(grads(0.014, 1.0)) == pytest.approx(0.014)  # still drawn
    # the same decay over two pairs is judged
    assert ERG().check(history([grads(0.014**2, 0.014, 1.0)])) is not None
    assert EAG().check(history([grads(2500.0, 50.0, 1.0)])) is not None


def test_erg_judges_only_the_newest_epoch() -> None:
    h = history([grads(1e-6, 1e-4, 1e-2), grads(0.1, 0.3, 1.0)])
    assert ERG().check(h) is None


# ---- EAG --------------------------------------------------------------------------------


def test_eag_fires_on_amplified_gradients() -> None:
    v = EAG().check(history([grads(1e4, 1e2, 1.0)]))
    assert v is not None and v.indicator == "EAG"
    assert v.values["median_ratio"] == pytest.approx(100.0)


def test_eag_at_threshold_and_stage_and_inf() -> None:
    h = history([grads(100.0, 10.0, 1.0)])  # median exactly 10
    assert EAG().check(h) is None  # default upper bound 10: at the bound, no verdict
    assert EAG(ExponentiallyAmplifiedGradientsSettings(upper_bound=9.99)).check(h) is not None
    assert EAG().check(history([grads(100.0, 10.0, 1.0)] * 6)) is None  # late stage
    assert EAG().check(history([grads(100.0, 1.0, 0.0)])) is not None  # 1/0 = inf kept
    assert EAG().check(history([grads(math.nan, 1.0)])) is None


# ---- AGV --------------------------------------------------------------------------------


def test_agv_quiet_on_healthy_gradients() -> None:
    assert AGV().check(history([grads(0.1, 0.3, 1.0)])) is None
    assert AGV().check(history([])) is None


@pytest.mark.parametrize("key", ["nan_count", "inf_count"])
def test_agv_fires_on_nonfinite_counts(key: str) -> None:
    g = list(grads(0.1, 0.3, 1.0))
    g[1] = LayerStat(index=1, name="fc1", values={**g[1].values, key: 3.0})
    v = AGV().check(history([tuple(g)]))
    assert v is not None and v.values[key] == 3.0 and "fc1" in v.rule


def test_agv_fires_on_infinite_abs_max_but_ignores_nan_statistics() -> None:
    assert AGV().check(history([grads(0.1, math.inf)])) is not None
    assert AGV().check(history([grads(0.1, math.nan)])) is None  # NaN: not computed


def test_agv_fires_on_midepoch_event_even_before_any_epoch() -> None:
    ev = NonFiniteEvent(epoch=1, batch=17, layer="fc2", nan_count=5.0, inf_count=0.0)
    v = AGV().check(history([], nonfinite=(ev,)))
    assert v is not None and v.epoch == 1 and "batch 17" in v.rule


@pytest.mark.parametrize("loss", [math.nan, math.inf])
def test_agv_fires_on_nonfinite_loss(loss: float) -> None:
    v = AGV().check(history([grads(0.1, 1.0)], losses=[loss]))
    assert v is not None and "train_loss" in v.rule


def test_agv_missing_loss_is_not_a_symptom() -> None:
    h = TrialHistory(
        trial_id=0,
        params={},
        max_epochs=5,
        epochs=(EpochRecord(epoch=0, metrics={}, grads=grads(0.1, 1.0)),),
    )
    assert AGV().check(h) is None


def test_agv_upper_bound_strict() -> None:
    at = history([grads(1.0, 1e3)])  # abs_max = 10 * abs_mean = 1e4 exactly
    assert AGV().check(at) is None
    assert AGV(AbnormalGradientValuesSettings(max_abs_gradient=9999.0)).check(at) is not None


def test_agv_any_stage() -> None:
    h = history([grads(0.1, 1.0)] * 9 + [grads(0.1, math.inf)], max_epochs=10)
    assert AbnormalGradientValues().check(h) is not None


@pytest.mark.parametrize(
    ("settings_type", "field", "bad"),
    [
        (AbnormalGradientValuesSettings, "max_abs_gradient", 0.0),
        (AbnormalGradientValuesSettings, "max_abs_gradient", math.nan),
        (ExponentiallyAmplifiedGradientsSettings, "upper_bound", -1.0),
        (ExponentiallyReducedGradientsSettings, "lower_bound", True),
    ],
)
def test_settings_validate_with_field_name(settings_type: type, field: str, bad: object) -> None:
    with pytest.raises(ValueError, match=field):
        settings_type(**{field: bad})


def test_aliases_and_class_attributes() -> None:
    assert AGV is AbnormalGradientValues and EAG is ExponentiallyAmplifiedGradients
    assert ERG is ExponentiallyReducedGradients
    assert (AGV.stage, EAG.stage, ERG.stage) == ("any", "early", "early")
    with pytest.raises(ValueError, match="early_fraction"):
        ERG(early_fraction=1.5)
    with pytest.raises(TypeError):
        ERG(ExponentiallyAmplifiedGradientsSettings())  # type: ignore[arg-type]


def test_of_an_even_count_of_ratios_half_must_amplify_or_reduce() -> None:
    # the zoo's reg-rms (3-layer MLP on raw regression targets, RMSprop, a good training):
    # mean |gradient| 17.7, 0.647, 21.3 at epoch 13: ratios 27 (up) and 0.03 (down), whose
    # mean (13.7) fired EAG although nothing compounds
    opposite = [grads(17.7, 0.647, 21.3)]
    assert compounded_gradient_ratio(opposite[0]) == pytest.approx(
        (17.7 / 0.647 + 0.647 / 21.3) / 2
    )
    assert EAG().check(history(opposite)) is None
    assert ERG().check(history(opposite)) is None
    assert compounded_gradient_ratio(opposite[0], side="lower") == pytest.approx(0.647 / 21.3)
    assert compounded_gradient_ratio(opposite[0], side="upper") == pytest.approx(17.7 / 0.647)
    # both pairs amplifying (or reducing): judged as before
    assert EAG().check(history([grads(400.0, 20.0, 1.0)])) is not None
    assert ERG().check(history([grads(1e-4, 1e-2, 1.0)])) is not None
    # an odd count: the median itself
    assert compounded_gradient_ratio(grads(8.0, 4.0, 2.0, 0.01), side="lower") == 2.0
