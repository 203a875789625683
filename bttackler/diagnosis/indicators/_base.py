"""What every quality indicator shares: the interface, the stage rule, small series helpers."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Generic, Literal, TypeVar

from bttackler.core.history import TrialHistory
from bttackler.core.verdict import Verdict
from bttackler.diagnosis.settings_table import check_fraction, settings_or_default

Stage = Literal["early", "late", "any"]
STAGES: tuple[str, ...] = ("early", "late", "any")

# Products like 0.3 * 10 are 3.0000000000000004 in binary floating point; without this slack
# the window would be 4 epochs and "count <= 0.5 * max_epochs" could flip on a rounding error.
_EPS = 1e-9

SettingsT = TypeVar("SettingsT")


def in_stage(indicator_stage: str, history: TrialHistory, early_fraction: float) -> bool:
    """Whether an indicator of ``indicator_stage`` applies to ``history`` now.

    The early stage holds while the count of recorded epochs is at most
    ``early_fraction * history.max_epochs``; the late stage is the rest. ``"any"`` always
    applies. Counting records (not epoch numbers) makes 0- and 1-based tasks behave alike.
    """
    if indicator_stage == "any":
        return True
    early = len(history.epochs) <= early_fraction * history.max_epochs + _EPS
    if indicator_stage == "early":
        return early
    if indicator_stage == "late":
        return not early
    raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {indicator_stage!r}")


def adaptive_window(max_epochs: int, window_fraction: float, min_window: int) -> int:
    """Window length ``max(min_window, ceil(window_fraction * max_epochs))`` in epochs."""
    return max(min_window, math.ceil(window_fraction * max_epochs - _EPS))


def last_epoch(history: TrialHistory) -> int:
    """Epoch number of the newest record (-1 when there is none)."""
    return history.epochs[-1].epoch if history.epochs else -1


def all_finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)


class Indicator(ABC, Generic[SettingsT]):
    """A quality indicator: a pure function of a trial's history, its settings and its stage.

    Subclasses set ``short_name`` (the paper's abbreviation), ``stage`` (``"early"``, ``"late"``
    or ``"any"``), ``settings_type`` (a frozen settings dataclass whose defaults are the
    documented thresholds) and implement :meth:`judge`. ``guarded`` tells the caller whether
    the paper authors' code let :func:`~bttackler.diagnosis.guard.is_protected` overrule this
    indicator for a trial among the best losses (it did for ERG, PLC, LAR and NMG).

    Args:
        settings: Thresholds; ``None`` takes the defaults.
        early_fraction: Share of ``max_epochs`` that is the early stage (0.5: the paper's halves).
    """

    short_name: str = ""
    stage: Stage = "any"
    guarded: bool = False
    settings_type: type[Any] = type(None)

    def __init__(self, settings: SettingsT | None = None, *, early_fraction: float = 0.5) -> None:
        check_fraction("early_fraction", early_fraction, low_open=False)
        self.settings: SettingsT = settings_or_default(
            settings, self.settings_type, type(self).__name__
        )
        self.early_fraction = float(early_fraction)

    def check(self, history: TrialHistory) -> Verdict | None:
        """The verdict on ``history`` now, or ``None``: healthy, out of stage, too little data."""
        if not in_stage(self.stage, history, self.early_fraction):
            return None
        verdict = self.judge(history)
        return None if verdict is None else verdict.at_epoch(history.current_epoch())

    @abstractmethod
    def judge(self, history: TrialHistory) -> Verdict | None:
        """Apply the rule regardless of stage. Pure: no state kept between calls."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings!r}, early_fraction={self.early_fraction})"
