"""What a run looks like from outside while it runs: counts, best trial, slots; and the
interface of the views that show it (see :mod:`bttackler.runtime.progress`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunCounts:
    finished: int = 0
    failed: int = 0
    terminated: int = 0
    stopped: int = 0
    skipped: int = 0  # proposals --avoid-bad did not start (not "ended": they never ran)
    by_indicator: dict[str, int] = field(default_factory=dict)

    @property
    def ended(self) -> int:
        """Trials that count towards ``--max-trials``."""
        return self.finished + self.failed + self.terminated


@dataclass(frozen=True)
class SlotView:
    index: int
    trial_id: int | None
    epoch: int | None
    started: float | None


@dataclass(frozen=True)
class RunSnapshot:
    """What the live view shows; built by the scheduler a few times per second."""

    elapsed: float
    budget: float
    counts: RunCounts
    running: int
    best_value: float | None
    best_params: dict[str, Any] | None
    best_trial: int | None
    slots: tuple[SlotView, ...]
    lost_records: int
    mode: str
    max_trials: int | None


class View:
    """Progress sink interface (rich live view or plain log)."""

    def update(self, snapshot: RunSnapshot) -> None:  # pragma: no cover - interface
        pass

    def event(self, text: str) -> None:  # pragma: no cover - interface
        pass


@dataclass(frozen=True)
class RunResult:
    """How a run ended, for the CLI's summary: ``completed``, ``interrupted`` or ``failed``
    (with why), the last snapshot and the warnings said."""

    outcome: str
    snapshot: RunSnapshot
    warnings: tuple[str, ...]
    failure: str | None = None
