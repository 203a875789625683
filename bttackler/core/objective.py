"""Comparing values of a task's objective, whichever way it is optimised (``mode``)."""

from __future__ import annotations

from collections.abc import Iterable


def is_better(a: float, b: float, mode: str) -> bool:
    """Whether ``a`` is strictly better than ``b`` (``mode`` is ``"max"`` or ``"min"``)."""
    return a > b if mode == "max" else a < b


def at_least_as_good(a: float, b: float, mode: str) -> bool:
    return a >= b if mode == "max" else a <= b


def ranked(values: Iterable[float], mode: str) -> list[float]:
    """Values best first."""
    return sorted(values, reverse=(mode == "max"))
