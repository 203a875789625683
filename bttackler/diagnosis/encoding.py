"""Configurations as numbers a classifier can split, and splits as words a reader can check:
the encoding of the model of trouble (``--avoid-bad``, :mod:`bttackler.diagnosis.avoid`) and
of ``bttackler explain``.

Each parameter of the search space becomes one or more columns: a number as itself (``log10``
of it for the log types, so a split falls between orders of magnitude), a choice one 0/1
column per value (a split reads "optimizer = sgd"). :func:`condition_text` turns a tree's
split back into the parameter's own scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bttackler.core.space import SearchSpace


@dataclass(frozen=True)
class Column:
    """One encoded column: ``param`` as a number (``log`` scale or not), or ``param == value``
    for a choice (``value`` set, ``is_choice``)."""

    param: str
    log: bool = False
    is_choice: bool = False
    value: Any = None

    @property
    def label(self) -> str:
        return f"{self.param}={self.value}" if self.is_choice else self.param


def columns(space: SearchSpace) -> list[Column]:
    """The encoded columns of ``space``, parameters in file order."""
    out: list[Column] = []
    for p in space.parameters:
        if p.type == "choice":
            out.extend(Column(p.name, is_choice=True, value=v) for v in p.values)
        else:
            out.append(Column(p.name, log=p.is_log))
    return out


def encode(cols: Sequence[Column], configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """``configs`` as a matrix, one row per configuration (NaN where a value is missing or
    not a positive number on a log scale)."""
    matrix = np.full((len(configs), len(cols)), math.nan)
    for i, params in enumerate(configs):
        for j, col in enumerate(cols):
            matrix[i, j] = _cell(col, params.get(col.param))
    return matrix


def _cell(col: Column, value: Any) -> float:
    if col.is_choice:
        return 1.0 if type(value) is type(col.value) and value == col.value else 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    x = float(value)
    if col.log:
        return math.log10(x) if x > 0 else math.nan
    return x


def condition_text(col: Column, threshold: float, above: bool) -> str:
    """A tree's split ``column <= threshold`` (``above``: ``>``) in the parameter's own words:
    ``optimizer = sgd`` / ``optimizer != sgd``, ``lr > 0.31``."""
    if col.is_choice:
        return f"{col.param} {'=' if above else '!='} {col.value}"
    x = 10.0**threshold if col.log else threshold
    return f"{col.param} {'>' if above else '<='} {_number(x)}"


def _number(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.3e}"
