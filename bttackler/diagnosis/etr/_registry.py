"""Building the early-termination rule ``--etr NAME`` asks for from the ``[etr]`` table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bttackler.core.errors import BttacklerError
from bttackler.diagnosis.etr._halving import (
    Hyperband,
    HyperbandSettings,
    SuccessiveHalving,
    SuccessiveHalvingSettings,
)
from bttackler.diagnosis.etr._rules import (
    LearningCurveExtrapolation,
    LearningCurveSettings,
    MedianStop,
    MedianStopSettings,
)
from bttackler.diagnosis.rule import EtrRule
from bttackler.diagnosis.settings_table import settings_from_table

ETRS: dict[str, tuple[type[Any], type[Any]]] = {
    "lce": (LearningCurveExtrapolation, LearningCurveSettings),
    "msr": (MedianStop, MedianStopSettings),
    "asha": (SuccessiveHalving, SuccessiveHalvingSettings),
    "hyperband": (Hyperband, HyperbandSettings),
}
# The indicator names of their verdicts ("LCE", "MSR", "ASHA", "HB"): these act even under
# --no-diagnosis.
ETR_INDICATORS: frozenset[str] = frozenset(rule.short_name for rule, _ in ETRS.values())


def build_etr_settings(name: str, table: Any) -> Any:
    """The settings dataclass of rule ``name`` (a key of :data:`ETRS`) from its TOML sub-table.

    Raises:
        BttacklerError: The table is not a table, or a key is unknown or its value invalid.
    """
    return settings_from_table(ETRS[name][1], table, f"etr.{name}")


def build_etr(name: str, config: Mapping[str, Any], *, objective: str, mode: str) -> EtrRule:
    """The rule ``--etr name`` selects, with its settings from the parsed ``[etr]`` table.

    ``config`` holds one optional sub-table per rule (``{"lce": {...}, "msr": {...}}``); all
    are validated whichever rule is selected, so a typo never passes silently.

    Raises:
        BttacklerError: One line naming the offending key or value: unknown rule or key, a
            value of the wrong type or out of range.
    """
    if not isinstance(config, Mapping):
        raise BttacklerError(f"etr must be a table, got {config!r}")
    for key in config:
        if key not in ETRS:
            raise BttacklerError(f"unknown key etr.{key} (known: {', '.join(ETRS)})")
    if name not in ETRS:
        raise BttacklerError(f"unknown early-termination rule {name!r} (known: {', '.join(ETRS)})")
    settings = {rule: build_etr_settings(rule, config.get(rule, {})) for rule in ETRS}
    rule_type = ETRS[name][0]
    try:
        rule: EtrRule = rule_type(settings[name], objective=objective, mode=mode)
    except ValueError as exc:
        raise BttacklerError(f"--etr {name}: {exc}") from exc
    return rule
