"""The twelve curve models at hand-computed points, and the fit that extrapolates them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bttackler.diagnosis.etr import (
    CURVE_MODELS,
    dr_hill_zero_background,
    exp4,
    fit_curves,
    ilog2,
    janoschek,
    linear,
    log_power,
    logx_linear,
    mmf,
    pow3,
    pow4,
    predict_final,
    vap,
    weibull,
)

E = math.e


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (vap(1.0, 0.5, -0.5, 2.0), 1.0),  # exp(0.5 - 0.5 + 2 log 1)
        (vap(2.0, 0.0, 2.0, 1.0), 2 * E),  # exp(2/2 + log 2)
        (pow3(4.0, 1.0, 0.5, 0.5), 0.75),  # 1 - 0.5 / sqrt(4)
        (linear(3.0, 2.0, 1.0), 7.0),
        (logx_linear(E**2, 0.5, 0.1), 1.1),  # 0.5 * 2 + 0.1
        (dr_hill_zero_background(2.0, 0.8, 2.0, 2.0), 0.4),  # 0.8 * 4 / (4 + 4)
        (log_power(E, 1.0, 1.0, 3.0), 0.5),  # 1 / (1 + (e / e)**3)
        (pow4(3.0, 1.0, 1.0, 1.0, 1.0), 0.75),  # 1 - (3 + 1)**-1
        (mmf(2.0, 1.0, 0.0, 0.5, 2.0), 0.5),  # 1 - 1 / (1 + 1**2)
        (exp4(1.0, 1.0, 1.0, 1.0, 2.0), 0.0),  # 1 - exp(-1 + 1)
        (ilog2(E - 1, 1.0, 0.5), 0.5),  # 1 - 0.5 / log(e)
        (weibull(2.0, 1.0, 0.0, 0.5, 3.0), 1 - math.exp(-1)),  # 1 - exp(-(0.5 * 2)**3)
        (janoschek(4.0, 1.0, 0.5, 0.5, 0.5), 1 - 0.5 * math.exp(-1)),  # 1 - .5 exp(-.5 * 2)
    ],
)
def test_curve_model_at_known_point(value: float, expected: float) -> None:
    assert float(value) == pytest.approx(expected, rel=1e-12)


def test_the_family_has_the_twelve_models_and_their_start_points_evaluate() -> None:
    names = [m.name for m in CURVE_MODELS]
    assert names == [
        "vap",
        "pow3",
        "linear",
        "logx_linear",
        "dr_hill_zero_background",
        "log_power",
        "pow4",
        "mmf",
        "exp4",
        "ilog2",
        "weibull",
        "janoschek",
    ]
    x = np.arange(1.0, 21.0)
    for model in CURVE_MODELS:
        assert np.all(np.isfinite(model.function(x, *model.start))), model.name


def saturating(top: float, n: int, noise: float = 0.004) -> list[float]:
    """``top * (1 - 0.8 exp(-0.35 x))`` at x = 1..n with a fixed small zig-zag."""
    return [top * (1 - 0.8 * math.exp(-0.35 * x)) + noise * (-1) ** x for x in range(1, n + 1)]


def test_an_exact_janoschek_curve_is_extrapolated() -> None:
    values = [float(janoschek(x, 0.9, 0.1, 0.3, 0.8)) for x in range(1, 11)]
    fit = fit_curves(values, 20)["janoschek"]
    assert fit.prediction == pytest.approx(float(janoschek(20.0, 0.9, 0.1, 0.3, 0.8)))
    assert fit.rmse == pytest.approx(0.0, abs=1e-6)
    assert predict_final(values, 20) == pytest.approx(0.9, abs=0.03)


@pytest.mark.parametrize("top", [0.5, 0.8, 0.98])
def test_saturating_curves_are_predicted_near_their_plateau(top: float) -> None:
    predicted = predict_final(saturating(top, 10), 20)
    assert predicted is not None
    assert predicted == pytest.approx(top, abs=0.05)


def test_prediction_is_clipped_to_the_plausible_range() -> None:
    assert predict_final(saturating(1.0, 10), 20, upper=0.9) == 0.9
    clipped = predict_final(saturating(0.5, 10), 20, lower=0.0, upper=0.4)
    assert clipped == 0.4


def test_too_few_points_or_models_give_no_prediction() -> None:
    assert predict_final([0.1, 0.2], 20) is None  # no model has fewer parameters than 2
    assert predict_final(saturating(0.5, 10), 20, min_models=13) is None
    assert predict_final([math.nan] * 10, 20) is None


def test_nan_values_are_skipped_keeping_the_positions() -> None:
    values = saturating(0.5, 10)
    values[3] = math.nan
    values[7] = math.inf
    predicted = predict_final(values, 20)
    assert predicted == pytest.approx(0.5, abs=0.05)
