"""The guard: never stop a trial whose training loss is among the best at its epoch count.

From the paper authors' code (``if_top_train_loss``): indicators that may mistake a good trial
for a bad one (ERG, PLC, LAR, NMG there) are overruled for a trial whose training loss is in
the best 10% of the losses all trials reached after the same number of epochs, once at least
10 trials have got that far. The live diagnoser and ``replay`` share :class:`Guard`.

The authors' code protects a trial for good once it was in the top 10% (``sticky``); by
default the guard re-judges every epoch, so a trial that was among the best at epoch 3 and
then collapses can still be stopped. ``replay --config`` with ``guard_sticky = true`` measures
the difference on a recorded run.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bttackler.core.errors import BttacklerError
from bttackler.core.history import TrialHistory


@dataclass(frozen=True, kw_only=True)
class GuardSettings:
    enabled: bool = True
    top_fraction: float = 0.1
    min_trials: int = 10
    loss_metric: str = "train_loss"
    sticky: bool = False  # protected once: protected for good (the authors' code)


def guard_settings(diagnosis: Mapping[str, Any]) -> GuardSettings:
    """The guard keys of ``[diagnosis]``, validated (raises BttacklerError)."""
    enabled = diagnosis.get("guard", True)
    top = diagnosis.get("guard_top_fraction", 0.1)
    minimum = diagnosis.get("guard_min_trials", 10)
    sticky = diagnosis.get("guard_sticky", False)
    if not isinstance(enabled, bool):
        raise BttacklerError(f"config: diagnosis.guard must be true or false, got {enabled!r}")
    if not isinstance(sticky, bool):
        raise BttacklerError(
            f"config: diagnosis.guard_sticky must be true or false, got {sticky!r}"
        )
    if isinstance(top, bool) or not isinstance(top, int | float) or not 0 < top <= 1:
        raise BttacklerError(f"config: diagnosis.guard_top_fraction must be in (0, 1], got {top!r}")
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
        raise BttacklerError(f"config: diagnosis.guard_min_trials must be >= 1, got {minimum!r}")
    return GuardSettings(
        enabled=enabled, top_fraction=float(top), min_trials=minimum, sticky=sticky
    )


def is_protected(
    train_loss: float,
    cohort_losses: Sequence[float],
    *,
    top_fraction: float = 0.1,
    min_trials: int = 10,
) -> bool:
    """Whether ``train_loss`` is among the best ``top_fraction`` of ``cohort_losses``.

    Args:
        train_loss: This trial's training loss after ``n`` epochs (lower is better).
        cohort_losses: The training losses of every trial that reached ``n`` epochs, this
            trial included.
        top_fraction: Share of the cohort protected, in (0, 1].
        min_trials: Smallest cohort that protects anybody (>= 1); smaller: nobody.

    Returns:
        True when fewer than ``top_fraction * len(cohort_losses)`` cohort losses are strictly
        better than ``train_loss``. Ties are treated alike: all trials tied at a protected
        loss are protected (with 10 trials, the best one and any tied with it). A NaN
        ``train_loss`` is never protected; NaN losses in the cohort count towards its size
        and are never better than anybody.

    Raises:
        ValueError: ``top_fraction`` or ``min_trials`` is out of range.
    """
    if isinstance(top_fraction, bool) or not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be a number in (0, 1], got {top_fraction!r}")
    if isinstance(min_trials, bool) or not isinstance(min_trials, int) or min_trials < 1:
        raise ValueError(f"min_trials must be an integer >= 1, got {min_trials!r}")
    if math.isnan(train_loss) or len(cohort_losses) < min_trials:
        return False
    better = sum(1 for loss in cohort_losses if loss < train_loss)
    # The slack keeps 0.1 * 30 = 3.0000000000000004 from protecting a fourth trial.
    return better < top_fraction * len(cohort_losses) - 1e-9


class Cohort:
    """Training loss of every trial at every epoch count, for the guard (thread-safe)."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self._losses: dict[int, dict[int, float]] = {}
        self._lock = threading.Lock()

    def record(self, history: TrialHistory) -> None:
        if not history.epochs:
            return
        loss = float(history.epochs[-1].metrics.get(self.metric, math.nan))
        with self._lock:
            self._losses.setdefault(len(history.epochs), {})[history.trial_id] = loss

    def losses_at(self, count: int) -> list[float]:
        with self._lock:
            return list(self._losses.get(count, {}).values())


class Guard:
    """The guard's settings with the cohort it judges against: the one home of the rule."""

    def __init__(self, settings: GuardSettings | None = None) -> None:
        self.settings = settings or GuardSettings()
        self.cohort = Cohort(self.settings.loss_metric)
        self._for_good: set[int] = set()
        self._lock = threading.Lock()

    def record(self, history: TrialHistory) -> None:
        """A new epoch of ``history``: its training loss joins the cohort at its count."""
        self.cohort.record(history)

    def protects(self, history: TrialHistory, cohort_losses: Sequence[float] | None = None) -> bool:
        """Whether guarded rules must spare ``history`` at its current epoch count.

        ``cohort_losses``: the training losses of every trial that reached this epoch count,
        this one included, when they are kept elsewhere (an Optuna study's storage); by
        default the ones :meth:`record` collected.
        """
        s = self.settings
        if not s.enabled or not history.epochs:
            return False
        with self._lock:
            if history.trial_id in self._for_good:
                return True
        loss = float(history.epochs[-1].metrics.get(s.loss_metric, math.nan))
        if cohort_losses is None:
            cohort_losses = self.cohort.losses_at(len(history.epochs))
        protected = is_protected(
            loss, cohort_losses, top_fraction=s.top_fraction, min_trials=s.min_trials
        )
        if protected and s.sticky:
            with self._lock:
                self._for_good.add(history.trial_id)
        return protected
