"""LAR: layers whose units are almost all inactive (dead ReLU)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bttackler.core.history import TrialHistory
from bttackler.core.verdict import Verdict, fmt
from bttackler.diagnosis.indicators._base import Indicator
from bttackler.diagnosis.settings_table import check_in_unit_interval_open_top, check_int_at_least

INACTIVE = "inactive_ratio"


def dead_layers(history: TrialHistory, threshold: float, consecutive_epochs: int) -> list[int]:
    """Indices of layers whose ``inactive_ratio`` is above ``threshold`` (strictly) in each of
    the last ``consecutive_epochs`` epochs. NaN ratios (not computed) never count as above."""
    if consecutive_epochs < 1 or len(history.epochs) < consecutive_epochs:
        return []
    candidates: set[int] | None = None
    for record in history.epochs[-consecutive_epochs:]:
        above = {
            layer.index
            for layer in record.activations
            if float(layer.values.get(INACTIVE, math.nan)) > threshold
        }
        candidates = above if candidates is None else candidates & above
    return sorted(candidates or ())


@dataclass(frozen=True, kw_only=True)
class LowActivationRatioSettings:
    """Settings of :class:`LowActivationRatio`.

    Attributes:
        threshold: LAR fires when a layer's share of inactive (zero) outputs is above it
            (strictly). Default 0.99: healthy ReLU layers here are 30-53% inactive, dead ones
            above 95%; 0.99 (under 1% of outputs alive) only catches a layer that is
            essentially dead, leaving the partly dying ones, which may still learn, alone.
        consecutive_epochs: The same layer must be above the threshold this many epochs in a
            row. Default 2: a dead ReLU layer gets no gradient and stays dead, so waiting one
            epoch to confirm costs little and rules out a one-epoch transient.
    """

    threshold: float = 0.99
    consecutive_epochs: int = 2

    def __post_init__(self) -> None:
        check_in_unit_interval_open_top("threshold", self.threshold)
        check_int_at_least("consecutive_epochs", self.consecutive_epochs, 1)


class LowActivationRatio(Indicator[LowActivationRatioSettings]):
    """LAR, any stage: a layer's outputs are (almost) all zero, so almost nothing learns.

    Positive when :func:`dead_layers` finds a layer; the rule names the first (nearest the
    input). Fewer recorded epochs than ``consecutive_epochs``, or no activation statistics:
    no verdict. NaN ratios are ignored.
    """

    short_name = "LAR"
    stage = "any"
    guarded = True
    settings_type = LowActivationRatioSettings

    def judge(self, history: TrialHistory) -> Verdict | None:
        s = self.settings
        dead = dead_layers(history, s.threshold, s.consecutive_epochs)
        if not dead:
            return None
        record = history.epochs[-1]
        layer = next(a for a in record.activations if a.index == dead[0])
        ratio = float(layer.values[INACTIVE])
        return Verdict(
            indicator=self.short_name,
            rule=f"layer {layer.name} inactive ratio {fmt(ratio)} > {fmt(s.threshold)} "
            f"for {s.consecutive_epochs} epoch(s)",
            epoch=record.epoch,
            values={
                "inactive_ratio": ratio,
                "threshold": s.threshold,
                "layer": float(layer.index),
                "dead_layers": float(len(dead)),
            },
        )
