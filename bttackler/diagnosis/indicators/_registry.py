"""Built-in indicators by short name, and building the enabled set from ``[indicators]``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bttackler.core.errors import BttacklerError
from bttackler.diagnosis.indicators._activations import LowActivationRatio
from bttackler.diagnosis.indicators._base import Indicator
from bttackler.diagnosis.indicators._custom import CustomIndicator, load_custom_function
from bttackler.diagnosis.indicators._early import EarlyDeadLayer, EarlyFlatLoss
from bttackler.diagnosis.indicators._gradients import (
    AbnormalGradientValues,
    ExponentiallyAmplifiedGradients,
    ExponentiallyReducedGradients,
)
from bttackler.diagnosis.indicators._loss import (
    NoMoreGain,
    PassiveLossChanges,
    UnexpectedLossChanges,
)
from bttackler.diagnosis.indicators._pace import (
    StuckAtChance,
    TinyWeightUpdates,
    VanishingGradientMagnitude,
)
from bttackler.diagnosis.settings_table import settings_from_table

INDICATORS: dict[str, type[Indicator[Any]]] = {
    cls.short_name: cls
    for cls in (
        AbnormalGradientValues,
        ExponentiallyAmplifiedGradients,
        ExponentiallyReducedGradients,
        PassiveLossChanges,
        LowActivationRatio,
        UnexpectedLossChanges,
        NoMoreGain,
        TinyWeightUpdates,
        VanishingGradientMagnitude,
        StuckAtChance,
        EarlyDeadLayer,
        EarlyFlatLoss,
    )
}

# Without ``enabled``: every built-in but PLC1 (in replay it stopped good trials whose loss
# sat at chance for their first batches; see EarlyFlatLossSettings), as in bttackler.toml.
DEFAULT_ENABLED: tuple[str, ...] = tuple(name for name in INDICATORS if name != "PLC1")
DEFAULT_EARLY_FRACTION = 0.5
_TOP_KEYS = ("enabled", "early_fraction", "custom")


def build_settings(short_name: str, table: Mapping[str, Any]) -> Any:
    """The settings dataclass of built-in indicator ``short_name`` from its TOML sub-table."""
    return settings_from_table(
        INDICATORS[short_name].settings_type, table, f"indicators.{short_name}"
    )


def build_indicators(
    config: Mapping[str, Any], *, base_dir: Path | None = None
) -> list[Indicator[Any]]:
    """The indicators the parsed ``[indicators]`` table asks for, in ``enabled`` order.

    Recognised keys: ``enabled`` (list of short names; default :data:`DEFAULT_ENABLED`),
    ``early_fraction`` (default 0.5), one sub-table per built-in indicator holding its
    settings (validated even when the indicator is not enabled, so a typo never passes
    silently), and ``custom``: ``NAME = "module:function"`` or ``"path/file.py:function"``.
    Custom indicators always run once declared (listing them in ``enabled`` too is allowed).

    Args:
        config: The ``[indicators]`` table (an empty mapping gives the defaults).
        base_dir: Folder that relative custom-indicator paths are relative to.

    Raises:
        BttacklerError: One line naming the offending key: unknown key or indicator, value of
            the wrong type or out of range, custom indicator that does not load.
    """
    for key in config:
        if key not in _TOP_KEYS and key not in INDICATORS:
            known = ", ".join((*_TOP_KEYS, *INDICATORS))
            raise BttacklerError(f"unknown key indicators.{key} (known: {known})")

    early = config.get("early_fraction", DEFAULT_EARLY_FRACTION)
    if (
        isinstance(early, bool)
        or not isinstance(early, int | float)
        or not math.isfinite(early)
        or not 0 <= early <= 1
    ):
        raise BttacklerError(f"indicators.early_fraction must be a number in [0, 1], got {early!r}")

    settings: dict[str, Any] = {}
    for name in INDICATORS:
        table = config.get(name, {})
        if not isinstance(table, Mapping):
            raise BttacklerError(f"indicators.{name} must be a table, got {table!r}")
        settings[name] = build_settings(name, table)

    custom_table = config.get("custom", {})
    if not isinstance(custom_table, Mapping):
        raise BttacklerError(f"indicators.custom must be a table, got {custom_table!r}")
    custom: dict[str, CustomIndicator] = {}
    for name, spec in custom_table.items():
        where = f"indicators.custom.{name}"
        if name in INDICATORS or name in _TOP_KEYS:
            raise BttacklerError(f"{where}: the name {name} is taken by a built-in")
        if not isinstance(spec, str):
            raise BttacklerError(f"{where} must be a string 'module:function', got {spec!r}")
        try:
            function, stage = load_custom_function(spec, base_dir=base_dir)
        except BttacklerError as exc:
            raise BttacklerError(f"{where}: {exc}") from exc
        custom[name] = CustomIndicator(name, function, stage=stage, early_fraction=float(early))

    enabled = config.get("enabled", list(DEFAULT_ENABLED))
    if isinstance(enabled, str) or not isinstance(enabled, list | tuple):
        raise BttacklerError(f"indicators.enabled must be a list of names, got {enabled!r}")
    result: list[Indicator[Any]] = []
    seen: set[str] = set()
    for name in enabled:
        if not isinstance(name, str) or (name not in INDICATORS and name not in custom):
            known = ", ".join((*INDICATORS, *custom))
            raise BttacklerError(f"indicators.enabled: unknown indicator {name!r} (known: {known})")
        if name in seen:
            continue
        seen.add(name)
        if name in INDICATORS:
            result.append(INDICATORS[name](settings[name], early_fraction=float(early)))
        else:
            result.append(custom[name])
    result.extend(ind for name, ind in custom.items() if name not in seen)
    return result
