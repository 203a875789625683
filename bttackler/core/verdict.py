"""The outcome of one positive quality indicator: what fired, on which epoch, and why."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def plural(count: int, word: str) -> str:
    """``1 epoch``, ``3 epochs``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


_FIELDS = ("indicator", "rule", "epoch", "values", "benign")


@dataclass(frozen=True)
class Verdict:
    """A quality indicator's positive finding about one trial.

    Attributes:
        indicator: Short name of the indicator that fired (``"ERG"``, ``"NMG"``, a custom name).
        rule: The rule that fired, readable without the paper
            (``"median gradient ratio 0.0008 < 0.02"``).
        epoch: The epoch the trial was in when judged, counted from 1 (its first epoch is
            epoch 1), whatever numbers the task passes to ``trial.report``: see
            :meth:`~bttackler.core.history.TrialHistory.current_epoch`.
        values: The numbers that triggered the rule. Stored as a read-only copy of floats;
            NaN and infinities are kept as they are.
        benign: True when the trial is not bad but done (``NoMoreGain``): it is stopped to save
            time and its result is as good as it gets.
    """

    indicator: str
    rule: str
    epoch: int
    values: Mapping[str, float] = field(hash=False)
    benign: bool = False

    def __post_init__(self) -> None:
        if not self.indicator:
            raise ValueError("indicator must be a non-empty name, got ''")
        frozen = MappingProxyType({str(k): float(v) for k, v in self.values.items()})
        object.__setattr__(self, "values", frozen)

    def at_epoch(self, epoch: int) -> Verdict:
        """This verdict, dated at ``epoch`` (a 1-based count)."""
        return Verdict(self.indicator, self.rule, epoch, self.values, self.benign)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON-ready but for NaN/inf values, which ``json`` writes as NaN)."""
        return {
            "indicator": self.indicator,
            "rule": self.rule,
            "epoch": self.epoch,
            "values": dict(self.values),
            "benign": self.benign,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: A key is missing or unknown, or a value has the wrong type.
        """
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise ValueError(f"unknown verdict key(s): {', '.join(unknown)}")
        missing = [k for k in _FIELDS[:4] if k not in data]
        if missing:
            raise ValueError(f"verdict is missing key(s): {', '.join(missing)}")
        values = data["values"]
        if not isinstance(values, Mapping):
            raise ValueError(f"verdict values must be a mapping, got {values!r}")
        epoch = data["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int):
            if not (isinstance(epoch, float) and math.isfinite(epoch) and epoch.is_integer()):
                raise ValueError(f"verdict epoch must be an integer, got {epoch!r}")
        benign = data.get("benign", False)
        if not isinstance(benign, bool):
            raise ValueError(f"verdict benign must be a bool, got {benign!r}")
        return cls(
            indicator=str(data["indicator"]),
            rule=str(data["rule"]),
            epoch=int(epoch),
            values=values,
            benign=benign,
        )


def fmt(x: float) -> str:
    """A short, readable number for rule texts (4 significant digits)."""
    return f"{x:.4g}"
