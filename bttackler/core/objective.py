"""Comparing values of a task's objective, whichever way it is optimised (``mode``), and
which of a trial's values it counts with (:class:`CountRule`)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Any

from bttackler.core.errors import BttacklerError


class Mode(str, Enum):
    """Which way the task's objective is optimised. A ``str`` enum: ``Mode.MAX == "max"``, and
    it prints, formats and serialises (JSON, the store's meta) as ``"max"``/``"min"``, so the
    strings tasks, meta and configs hold keep working; :meth:`of` reads them."""

    MAX = "max"
    MIN = "min"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def of(cls, text: Any, *, where: str = "mode") -> Mode:
        """``text`` (``"max"``/``"min"`` or a Mode) as a Mode.

        Raises:
            BttacklerError: anything else; one line naming ``where``.
        """
        if isinstance(text, cls):
            return text
        if isinstance(text, str):
            try:
                return cls(text)
            except ValueError:
                pass
        raise BttacklerError(f'{where} must be "max" or "min", got {text!r}')

    @property
    def sign(self) -> float:
        """The sort key's factor that puts the best first in an ascending sort:
        ``sorted(values, key=lambda v: mode.sign * v)``; ``-1.0`` for MAX, ``1.0`` for MIN."""
        return -1.0 if self is Mode.MAX else 1.0

    @property
    def verb(self) -> str:
        """``"maximize"`` or ``"minimize"``."""
        return "maximize" if self is Mode.MAX else "minimize"

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a > b if self is Mode.MAX else a < b

    def at_least(self, a: float, b: float) -> bool:
        """Whether ``a`` is at least as good as ``b``."""
        return a >= b if self is Mode.MAX else a <= b

    def best(self, values: Iterable[float]) -> float:
        """The best of ``values`` (``max`` or ``min``; ValueError when empty, as theirs)."""
        return max(values) if self is Mode.MAX else min(values)

    def ranked(self, values: Iterable[float]) -> list[float]:
        """``values`` best first (a stable sort: equal values keep their order)."""
        return sorted(values, reverse=self is Mode.MAX)


def is_better(a: float, b: float, mode: Mode | str) -> bool:
    """Whether ``a`` is strictly better than ``b``: :meth:`Mode.better` for a Mode or its
    string (what the scheduler's recorder and the benchmarks call)."""
    return Mode.of(mode).better(a, b)


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
