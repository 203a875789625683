"""The seven quality indicators of BTTackler (KDD'24, section 3.2), three pace indicators that
judge from the first epoch (TWU, VGM, SAC: see ``_pace``), two that judge inside it (LAR1,
PLC1: see ``_early``), and their registry.

Each indicator is a class with ``short_name``, ``stage`` and a frozen settings dataclass; its
``check(history)`` is a pure function of a :class:`~bttackler.core.history.TrialHistory` returning a
:class:`~bttackler.core.verdict.Verdict` or ``None``. The arithmetic lives in module-level
functions (``median_gradient_ratio``, ``relative_loss_change``, ``loss_trend``, ...).
The paper's abbreviations are aliases: ``AGV is AbnormalGradientValues``.
"""

from __future__ import annotations

from bttackler.diagnosis.indicators._activations import (
    LowActivationRatio,
    LowActivationRatioSettings,
    dead_layers,
    inactivity,
)
from bttackler.diagnosis.indicators._base import Indicator, Stage, adaptive_window, in_stage
from bttackler.diagnosis.indicators._custom import CustomIndicator, load_custom_function
from bttackler.diagnosis.indicators._early import (
    EarlyDeadLayer,
    EarlyDeadLayerSettings,
    EarlyFlatLoss,
    EarlyFlatLossSettings,
    flat_loss_gain,
    pending_early,
)
from bttackler.diagnosis.indicators._gradients import (
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
from bttackler.diagnosis.indicators._loss import (
    NoMoreGain,
    NoMoreGainSettings,
    PassiveLossChanges,
    PassiveLossChangesSettings,
    UnexpectedLossChanges,
    UnexpectedLossChangesSettings,
    loss_trend,
    relative_loss_change,
    window_gain,
)
from bttackler.diagnosis.indicators._pace import (
    StuckAtChance,
    StuckAtChanceSettings,
    TinyWeightUpdates,
    TinyWeightUpdatesSettings,
    VanishingGradientMagnitude,
    VanishingGradientMagnitudeSettings,
    median_over_layers,
)
from bttackler.diagnosis.indicators._registry import (
    DEFAULT_EARLY_FRACTION,
    DEFAULT_ENABLED,
    INDICATORS,
    build_indicators,
    build_settings,
)

AGV = AbnormalGradientValues
EAG = ExponentiallyAmplifiedGradients
ERG = ExponentiallyReducedGradients
PLC = PassiveLossChanges
LAR = LowActivationRatio
ULC = UnexpectedLossChanges
NMG = NoMoreGain
TWU = TinyWeightUpdates
VGM = VanishingGradientMagnitude
SAC = StuckAtChance
LAR1 = EarlyDeadLayer
PLC1 = EarlyFlatLoss

__all__ = [
    "AGV",
    "DEFAULT_EARLY_FRACTION",
    "DEFAULT_ENABLED",
    "EAG",
    "ERG",
    "INDICATORS",
    "LAR",
    "LAR1",
    "NMG",
    "PLC",
    "PLC1",
    "SAC",
    "TWU",
    "VGM",
    "ULC",
    "AbnormalGradientValues",
    "AbnormalGradientValuesSettings",
    "CustomIndicator",
    "EarlyDeadLayer",
    "EarlyDeadLayerSettings",
    "EarlyFlatLoss",
    "EarlyFlatLossSettings",
    "ExponentiallyAmplifiedGradients",
    "ExponentiallyAmplifiedGradientsSettings",
    "ExponentiallyReducedGradients",
    "ExponentiallyReducedGradientsSettings",
    "Indicator",
    "LowActivationRatio",
    "LowActivationRatioSettings",
    "NoMoreGain",
    "NoMoreGainSettings",
    "PassiveLossChanges",
    "PassiveLossChangesSettings",
    "Stage",
    "StuckAtChance",
    "StuckAtChanceSettings",
    "TinyWeightUpdates",
    "TinyWeightUpdatesSettings",
    "UnexpectedLossChanges",
    "UnexpectedLossChangesSettings",
    "VanishingGradientMagnitude",
    "VanishingGradientMagnitudeSettings",
    "adaptive_window",
    "adjacent_gradient_ratios",
    "build_indicators",
    "build_settings",
    "compounded_gradient_ratio",
    "dead_layers",
    "flat_loss_gain",
    "in_stage",
    "inactivity",
    "load_custom_function",
    "loss_trend",
    "median_over_layers",
    "median_gradient_ratio",
    "pending_early",
    "relative_loss_change",
    "window_gain",
]
