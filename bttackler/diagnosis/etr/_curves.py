"""The twelve learning-curve models of LCE and the fit that extrapolates a curve to its end.

The model family is the one of Domhan et al. (IJCAI 2015, "Speeding up automatic
hyperparameter optimization of deep neural networks by extrapolation of learning curves"),
which NNI's Curvefitting assessor also uses: increasing, saturating functions of the epoch
position ``x`` (1 for the first recorded epoch). Each model is a small pure function of ``x``
(a float or a NumPy array) and its parameters; :data:`CURVE_MODELS` lists them in order
with the published starting points of their fits.

:func:`predict_final` fits every model to a series with ``scipy.optimize.curve_fit``, keeps
the usable fits that follow the data nearly as well as the best one and takes the median of
their predictions, clipped to the objective's plausible range. (NNI weights the models by MCMC
sampling of their likelihood; keeping the closest fits and taking their median is simpler,
deterministic, and robust to a minority of wild extrapolations.)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

# Most function evaluations one model's fit may spend. A fit that has not converged by then
# is dropped; 12 models x 300 evaluations on 20 points stay well below 50 ms.
MAX_FUNCTION_EVALUATIONS = 300

# Fewest good fits for a prediction: NNI's assessor also needs 4 fitted models.
DEFAULT_MIN_MODELS = 4

# A usable fit takes part in the prediction when its residual is at most this many times the
# smallest residual among the fits (see :func:`combine`).
RESIDUAL_RATIO = 2.0


def vap(x: Any, a: float, b: float, c: float) -> Any:
    """Vapor pressure: ``exp(a + b / x + c * log(x))``."""
    return np.exp(a + b / x + c * np.log(x))


def pow3(x: Any, c: float, a: float, alpha: float) -> Any:
    """``c - a * x**(-alpha)``."""
    return c - a * np.power(x, -alpha)


def linear(x: Any, a: float, b: float) -> Any:
    """``a * x + b``."""
    return a * x + b


def logx_linear(x: Any, a: float, b: float) -> Any:
    """``a * log(x) + b``."""
    return a * np.log(x) + b


def dr_hill_zero_background(x: Any, theta: float, eta: float, kappa: float) -> Any:
    """Hill curve through the origin: ``theta * x**eta / (kappa**eta + x**eta)``."""
    return theta * np.power(x, eta) / (np.power(kappa, eta) + np.power(x, eta))


def log_power(x: Any, a: float, b: float, c: float) -> Any:
    """Logistic power: ``a / (1 + (x / exp(b))**c)``."""
    return a / (1.0 + np.power(x / np.exp(b), c))


def pow4(x: Any, alpha: float, a: float, b: float, c: float) -> Any:
    """``c - (a * x + b)**(-alpha)``."""
    return c - np.power(a * x + b, -alpha)


def mmf(x: Any, alpha: float, beta: float, kappa: float, delta: float) -> Any:
    """Morgan-Mercer-Flodin: ``alpha - (alpha - beta) / (1 + (kappa * x)**delta)``."""
    return alpha - (alpha - beta) / (1.0 + np.power(kappa * x, delta))


def exp4(x: Any, c: float, a: float, b: float, alpha: float) -> Any:
    """``c - exp(-a * x**alpha + b)``."""
    return c - np.exp(-a * np.power(x, alpha) + b)


def ilog2(x: Any, c: float, a: float) -> Any:
    """``c - a / log(x + 1)``.

    The published form is ``c - a / log(x)``, which is infinite at the first epoch (x = 1)
    and so cannot be fitted to a curve that starts there; shifting by one keeps the shape.
    """
    return c - a / np.log(x + 1.0)


def weibull(x: Any, alpha: float, beta: float, kappa: float, delta: float) -> Any:
    """Weibull: ``alpha - (alpha - beta) * exp(-(kappa * x)**delta)``."""
    return alpha - (alpha - beta) * np.exp(-np.power(kappa * x, delta))


def janoschek(x: Any, a: float, beta: float, k: float, delta: float) -> Any:
    """Janoschek: ``a - (a - beta) * exp(-k * x**delta)``."""
    return a - (a - beta) * np.exp(-k * np.power(x, delta))


@dataclass(frozen=True)
class CurveModel:
    """One model of the family: its name, function and the starting point of its fit."""

    name: str
    function: Callable[..., Any]
    start: tuple[float, ...]


# Starting points as published with the model family (Domhan et al.'s code, also NNI's).
CURVE_MODELS: tuple[CurveModel, ...] = (
    CurveModel("vap", vap, (-0.622028, -0.470050, 0.042322)),
    CurveModel("pow3", pow3, (0.84, 0.52, 0.01)),
    CurveModel("linear", linear, (1.0, 0.0)),
    CurveModel("logx_linear", logx_linear, (0.378106, 0.046506)),
    CurveModel("dr_hill_zero_background", dr_hill_zero_background, (0.772320, 0.586449, 2.460843)),
    CurveModel("log_power", log_power, (0.77, 2.98, -0.51)),
    CurveModel("pow4", pow4, (0.1, 200.0, 0.0, 0.8)),
    CurveModel("mmf", mmf, (0.7, 0.1, 0.01, 5.0)),
    CurveModel("exp4", exp4, (0.7, 0.8, -0.8, 0.3)),
    CurveModel("ilog2", ilog2, (0.78, 0.43)),
    CurveModel("weibull", weibull, (0.7, 0.1, 0.01, 1.0)),
    CurveModel("janoschek", janoschek, (0.73, 0.07, 0.355, 0.46)),
)


@dataclass(frozen=True)
class CurveFit:
    """One usable fit: its prediction at the target position and its root-mean-square residual."""

    prediction: float
    rmse: float


def fit_model(model: CurveModel, x: np.ndarray, y: np.ndarray, target: float) -> CurveFit | None:
    """``model`` fitted to the points ``(x, y)`` by least squares, evaluated at ``target``.

    ``None`` when the fit is unusable: fewer points than parameters + 1, no convergence within
    :data:`MAX_FUNCTION_EVALUATIONS`, a non-finite parameter, fitted value or prediction, or
    a fit worse than the flat line through the mean (its root-mean-square residual exceeds the
    standard deviation of ``y``, with a 1e-9 floor so that exact fits of flat series pass).
    SciPy's warnings and NumPy's floating-point warnings are silenced: a bad fit is expected
    and simply dropped.
    """
    if len(y) <= len(model.start):
        return None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", OptimizeWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            params, _ = curve_fit(
                model.function, x, y, p0=model.start, maxfev=MAX_FUNCTION_EVALUATIONS
            )
        except (RuntimeError, ValueError, TypeError, FloatingPointError, OverflowError):
            return None
        if not np.all(np.isfinite(params)):
            return None
        fitted = np.asarray(model.function(x, *params), dtype=float)
        prediction = float(model.function(float(target), *params))
    if not np.all(np.isfinite(fitted)) or not math.isfinite(prediction):
        return None
    rmse = float(np.sqrt(np.mean((fitted - y) ** 2)))
    if rmse > max(float(np.std(y)), 1e-9):
        return None
    return CurveFit(prediction=prediction, rmse=rmse)


def fit_curves(values: Sequence[float], target_epoch: int) -> dict[str, CurveFit]:
    """The usable fit (:func:`fit_model`) of every model that has one, by model name.

    ``values[i]`` is the objective at position ``i + 1``; predictions are for position
    ``target_epoch``. NaN and infinite values are left out of the fit (their positions are
    skipped, the other points keep theirs), so a missing epoch neither shifts the curve nor
    stops the fit.
    """
    y_all = np.asarray(values, dtype=float)
    x_all = np.arange(1, len(y_all) + 1, dtype=float)
    keep = np.isfinite(y_all)
    x, y = x_all[keep], y_all[keep]
    fits: dict[str, CurveFit] = {}
    for model in CURVE_MODELS:
        fit = fit_model(model, x, y, float(target_epoch))
        if fit is not None:
            fits[model.name] = fit
    return fits


def combine(fits: Sequence[CurveFit], scale: float) -> float:
    """The median prediction of the fits that follow the data nearly as well as the best one.

    A fit is kept when its residual is at most :data:`RESIDUAL_RATIO` x the smallest residual,
    or at most ``1e-3 * scale`` (so that several exact fits of a noiseless curve all count).
    Keeping only the closest fits plays the part of NNI's likelihood weighting: on ten points
    of an exponentially saturating curve the power-law and logarithmic models fit visibly worse
    and overshoot the plateau; the median of all usable fits would follow them.
    """
    best = min(f.rmse for f in fits)
    cap = max(RESIDUAL_RATIO * best, 1e-3 * scale)
    return float(np.median([f.prediction for f in fits if f.rmse <= cap]))


def predict_final(
    values: Sequence[float],
    target_epoch: int,
    *,
    lower: float = 0.0,
    upper: float = 1.0,
    min_models: int = DEFAULT_MIN_MODELS,
) -> float | None:
    """The objective expected at position ``target_epoch`` (1-based) from the series so far.

    Every curve model is fitted (:func:`fit_curves`; NaN/infinite values are skipped); with
    at least ``min_models`` usable fits, the answer is :func:`combine` of them, clipped to
    ``[lower, upper]`` (the default ``[0, 1]`` is the range the model family assumes: an
    accuracy-like objective). Clipping the combined value, rather than dropping the fits that
    predict outside the range, keeps the vote even: dropping only the fits above 1 would pull
    a good trial's prediction down and stop it.

    Returns:
        The prediction, or ``None`` when fewer than ``min_models`` fits are usable (too few
        finite points, or the curve fits none of the models).
    """
    fits = list(fit_curves(values, target_epoch).values())
    if len(fits) < max(1, min_models):
        return None
    finite = [v for v in values if math.isfinite(v)]
    scale = max(abs(v) for v in finite)
    return float(np.clip(combine(fits, scale), lower, upper))
