"""Accuracy-based early-termination rules: the paper's baselines LCE and MSR (section 4.1), and
the successive-halving schedulers practitioners reach for, ASHA and Hyperband.

``--etr lce`` (:class:`LearningCurveExtrapolation`, NNI's Curvefitting assessor),
``--etr msr`` (:class:`MedianStop`, NNI's Medianstop assessor), ``--etr asha``
(:class:`SuccessiveHalving`, Optuna's SuccessiveHalvingPruner) and ``--etr hyperband``
(:class:`Hyperband`, Optuna's HyperbandPruner). Each rule's ``check(history, cohort)`` is a
pure function of the trial's :class:`~bttackler.core.history.TrialHistory` and other trials'
histories (its ``cohort``: the finished trials, or every trial so far), returning a
:class:`~bttackler.core.verdict.Verdict` (indicator ``"LCE"``/``"MSR"``/``"ASHA"``/``"HB"``)
or ``None``.
:func:`build_etr` makes one from the ``[etr]`` configuration table. The arithmetic lives in
module-level functions: the twelve curve models, :func:`predict_final`,
:func:`running_average`, :func:`best_so_far`.
"""

from __future__ import annotations

from bttackler.diagnosis.etr._curves import (
    CURVE_MODELS,
    CurveFit,
    CurveModel,
    combine,
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
from bttackler.diagnosis.etr._halving import (
    Hyperband,
    HyperbandSettings,
    SuccessiveHalving,
    SuccessiveHalvingSettings,
    bracket_budgets,
    bracket_of,
    promotable,
    promotion_bar,
    rung_of,
)
from bttackler.diagnosis.etr._registry import ETR_INDICATORS, ETRS, build_etr, build_etr_settings
from bttackler.diagnosis.etr._rules import (
    LearningCurveExtrapolation,
    LearningCurveSettings,
    MedianStop,
    MedianStopSettings,
    best_final_value,
    best_so_far,
    rising,
    running_average,
    unrising,
)

LCE = LearningCurveExtrapolation
MSR = MedianStop

__all__ = [
    "CURVE_MODELS",
    "CurveFit",
    "ETRS",
    "ETR_INDICATORS",
    "LCE",
    "MSR",
    "CurveModel",
    "Hyperband",
    "HyperbandSettings",
    "SuccessiveHalving",
    "SuccessiveHalvingSettings",
    "bracket_budgets",
    "bracket_of",
    "promotable",
    "promotion_bar",
    "rung_of",
    "LearningCurveExtrapolation",
    "LearningCurveSettings",
    "MedianStop",
    "MedianStopSettings",
    "best_final_value",
    "best_so_far",
    "build_etr",
    "build_etr_settings",
    "combine",
    "dr_hill_zero_background",
    "exp4",
    "fit_curves",
    "ilog2",
    "janoschek",
    "linear",
    "log_power",
    "logx_linear",
    "mmf",
    "pow3",
    "pow4",
    "predict_final",
    "rising",
    "running_average",
    "unrising",
    "vap",
    "weibull",
]
