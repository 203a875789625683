"""Comparing values of a task's objective, whichever way it is optimised (``mode``), and
which of a trial's values it counts with (:class:`CountRule`)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


def is_better(a: float, b: float, mode: str) -> bool:
    """Whether ``a`` is strictly better than ``b`` (``mode`` is ``"max"`` or ``"min"``)."""
    return a > b if mode == "max" else a < b


def at_least_as_good(a: float, b: float, mode: str) -> bool:
    return a >= b if mode == "max" else a <= b


def ranked(values: Iterable[float], mode: str) -> list[float]:
    """Values best first."""
    return sorted(values, reverse=(mode == "max"))


class CountRule(str, Enum):
    """Which of a trial's objective values it counts with: in the searcher's feedback, the
    run's best, and every table comparing arms (``[run] count``, ``--count``).

    ``last``: its last reported value, whether it ran to its end or was stopped by any
    indicator (NMG included) or ETR rule (the paper's section 3.3, and NNI's rule).
    ``best``: its best epoch's value, for every trial alike (for users who keep the best
    checkpoint of each trial).
    """

    LAST = "last"
    BEST = "best"

    def pick(self, last: float | None, best: float | None) -> float | None:
        """The value a trial with these ``last`` and ``best`` values counts with."""
        return best if self is CountRule.BEST else last

    @property
    def label(self) -> str:
        """How tables and reports say which rule counted: ``counted by last value``."""
        return f"counted by {self.value} value"


COUNT_RULES = tuple(rule.value for rule in CountRule)
