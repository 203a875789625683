"""LAR: layers whose units are almost all inactive (dead ReLU).

Two measures, one per kind of model:

* the **inactive ratio** of each activation module (``nn.ReLU``, ``nn.Tanh``, ...), measured by
  the probe on the module's outputs;
* for a model whose activations are not modules (``torch.relu`` in ``forward``, an
  ``nn.LSTM``'s gates, a Transformer layer's default activation) the probe records no
  activation at all; there LAR reads the **share of exactly-zero gradient entries** of every
  weighted layer but the first. A unit that outputs zero on every sample of a batch zeroes its
  column of the next layer's weight gradient, so a layer whose gradient is (almost) all zeros
  is fed by (almost) dead units or is dead itself. The first layer is left out: its zero
  columns come from the input data (blank pixels), not from dead units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bttackler.core.history import EpochRecord, LayerStat, TrialHistory
from bttackler.core.verdict import Verdict, fmt
from bttackler.diagnosis.indicators._base import Indicator
from bttackler.diagnosis.settings_table import check_in_unit_interval_open_top, check_int_at_least

INACTIVE = "inactive_ratio"
ZERO_GRADIENTS = "zero_ratio"


def inactivity(record: EpochRecord) -> tuple[str, list[tuple[LayerStat, float]]]:
    """The epoch's measure of inactivity (see the module docstring) and each layer's value:
    activation modules' inactive ratios when the probe saw any, else the zero-gradient share
    of every weighted layer but the first."""
    if record.activations:
        return "inactive ratio", [
            (layer, float(layer.values.get(INACTIVE, math.nan))) for layer in record.activations
        ]
    later = sorted(record.grads, key=lambda g: g.index)[1:]
    return "zero-gradient share", [
        (layer, float(layer.values.get(ZERO_GRADIENTS, math.nan))) for layer in later
    ]


def dead_layers(history: TrialHistory, threshold: float, consecutive_epochs: int) -> list[int]:
    """Indices of layers whose :func:`inactivity` is above ``threshold`` (strictly) in each of
    the last ``consecutive_epochs`` epochs. NaN values (not computed) never count as above."""
    if consecutive_epochs < 1 or len(history.epochs) < consecutive_epochs:
        return []
    candidates: set[int] | None = None
    for record in history.epochs[-consecutive_epochs:]:
        above = {layer.index for layer, value in inactivity(record)[1] if value > threshold}
        candidates = above if candidates is None else candidates & above
    return sorted(candidates or ())


@dataclass(frozen=True, kw_only=True)
class LowActivationRatioSettings:
    """Settings of :class:`LowActivationRatio`.

    Attributes:
        threshold: LAR fires when a layer's share of inactive (zero) outputs is above it
            (strictly). Default 0.999: healthy ReLU layers here are 30-53% inactive, dead ones
            above 95%. At 0.99 replay of the benchmark's digits-wide baselines found three of
            the final top 10 (val_acc up to 0.986: relu/leaky_relu with batch norm and heavy
            dropout) with a hidden layer 99.4-99.6% inactive for two epochs: a handful of live
            units carried them. 0.999 (under 0.1% of outputs alive) only catches a layer that
            is dead.
        consecutive_epochs: The same layer must be above the threshold this many epochs in a
            row. Default 2: a dead ReLU layer gets no gradient and stays dead, so waiting one
            epoch to confirm costs little and rules out a one-epoch transient.
    """

    threshold: float = 0.999
    consecutive_epochs: int = 2

    def __post_init__(self) -> None:
        check_in_unit_interval_open_top("threshold", self.threshold)
        check_int_at_least("consecutive_epochs", self.consecutive_epochs, 1)


class LowActivationRatio(Indicator[LowActivationRatioSettings]):
    """LAR, any stage: a layer's outputs are (almost) all zero, so almost nothing learns.

    Positive when :func:`dead_layers` finds a layer; the rule names the first (nearest the
    input) and the measure (inactive ratio, or zero-gradient share for models without
    activation modules). Fewer recorded epochs than ``consecutive_epochs``, or no statistics:
    no verdict. NaN values are ignored.

    Evidence and why it holds across families: the share of exactly-zero outputs of an
    activation layer (or, without activation modules, of exactly-zero gradient entries) on two
    epochs in a row: above 99.9% nothing passes that layer under any optimizer or schedule.
    Smooth activations (tanh, sigmoid, GELU, ELU) are almost never exactly zero, so they are
    judged only when dead for real; a ReLU layer of a healthy net sits at 30-60%.
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
        measure, values = inactivity(record)
        layer, ratio = next((layer, v) for layer, v in values if layer.index == dead[0])
        return Verdict(
            indicator=self.short_name,
            rule=f"layer {layer.name} {measure} {fmt(ratio)} > {fmt(s.threshold)} "
            f"for {s.consecutive_epochs} epoch(s)",
            epoch=record.epoch,
            values={
                "inactive_ratio": ratio,
                "threshold": s.threshold,
                "layer": float(layer.index),
                "dead_layers": float(len(dead)),
            },
        )
