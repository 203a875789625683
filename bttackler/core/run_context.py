"""What every part of a run needs to know about its task, in one object: the objective and
its direction, the planned epochs and the loss of a model that learned nothing. Built once
from the task (:meth:`RunContext.from_task`) or from a stored run's meta
(:meth:`RunContext.from_meta`, the one parser of those keys) and handed down whole."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bttackler.core.objective import Mode
from bttackler.core.task import TaskSpec


@dataclass(frozen=True)
class RunContext:
    objective: str  # the metric the search optimises ("val_acc")
    mode: Mode
    max_epochs: int  # the epochs a trial plans (the indicators' horizon)
    chance_loss: float = math.nan  # the task's CHANCE_LOSS, or NaN when it has none

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", Mode.of(self.mode))

    @classmethod
    def from_task(cls, task: TaskSpec) -> RunContext:
        return cls(task.objective, task.mode, task.max_epochs, task.chance_loss)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], *, where: str = "mode") -> RunContext:
        """A stored run's context (its ``meta`` table); missing keys read as the defaults a
        run of an older version had. A bad mode raises one line naming ``where``."""
        chance = meta.get("chance_loss")
        return cls(
            objective=str(meta.get("objective", "")),
            mode=Mode.of(meta.get("mode") or Mode.MAX, where=where),
            max_epochs=int(meta.get("max_epochs") or 1),
            chance_loss=float(chance) if isinstance(chance, int | float) else math.nan,
        )

    def to_meta(self) -> dict[str, Any]:
        """The keys :meth:`from_meta` reads (JSON-safe: no NaN)."""
        return {
            "objective": self.objective,
            "mode": self.mode.value,
            "max_epochs": self.max_epochs,
            "chance_loss": self.chance_loss if math.isfinite(self.chance_loss) else None,
        }
