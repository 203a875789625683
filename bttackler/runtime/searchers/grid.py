"""Grid search with NNI's semantics: every combination of every parameter's values, once.

A parameter's values (:func:`grid_values`): a ``choice``'s values in file order; a
``randint``'s integers ``lower .. upper - 1``; a ``quniform``/``qloguniform``'s multiples of
``q`` in ``[low, high]`` (rounded and clipped as sampling does, so the bounds are in); a
``uniform``/``loguniform`` with ``grid_points: N`` its N evenly spaced values (log scale for
loguniform). A continuous range without a step, and the unbounded normal types, are refused
with one line naming the parameter: a grid cannot enumerate them.

The order is deterministic: the product in file order, the last parameter varying fastest
(``shuffle``: a permutation drawn from the seed). When every combination has been asked,
:meth:`GridSearcher.ask` raises :class:`SearchExhausted` and the run ends once its trials
have. A resumed run re-tells what ran, and those combinations are not asked again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bttackler.core.errors import BttacklerError
from bttackler.core.space import Parameter, SearchSpace
from bttackler.runtime.searchers.base import ParamsKey, Searcher, SearchExhausted, params_key

# A shuffled order is a permutation held in memory; past this many combinations, refuse.
MAX_SHUFFLED = 10_000_000


def grid_values(p: Parameter) -> tuple[Any, ...]:
    """The values grid search takes for ``p``, in ascending (or file) order.

    Raises:
        BttacklerError: ``p`` has no finite set of values (a continuous range without
            ``grid_points``, or a normal type).
    """
    if p.type == "choice":
        return p.values
    if p.type == "randint":
        return tuple(range(int(p.low), int(p.high)))
    if p.type in ("quniform", "qloguniform"):
        first, last = math.floor(p.low / p.q), math.ceil(p.high / p.q)
        return tuple(sorted({p.coerce(k * p.q) for k in range(first, last + 1)}))
    if p.type in ("uniform", "loguniform"):
        if not p.grid_points:
            step = "qloguniform" if p.is_log else "quniform"
            raise BttacklerError(
                f"--method grid: parameter {p.name!r} is {p.type} without steps; use {step} "
                f"with a q, or give it grid_points: N"
            )
        if p.is_log:
            points = np.exp(np.linspace(math.log(p.low), math.log(p.high), p.grid_points))
        else:
            points = np.linspace(p.low, p.high, p.grid_points)
        return tuple(p.coerce(float(x)) for x in points)
    raise BttacklerError(
        f"--method grid: parameter {p.name!r} is {p.type}, which has no bounds to enumerate; "
        "use a choice or a bounded type"
    )


def grid_size(axes: Sequence[Sequence[Any]]) -> int:
    """How many combinations the axes make."""
    return math.prod(len(axis) for axis in axes)


def combination(axes: Sequence[Sequence[Any]], index: int) -> tuple[Any, ...]:
    """The ``index``-th combination of ``axes`` (mixed radix, the last axis fastest)."""
    values = []
    for axis in reversed(axes):
        index, digit = divmod(index, len(axis))
        values.append(axis[digit])
    return tuple(reversed(values))


class GridSearcher(Searcher):
    """Asks every combination once, in order (or a seeded permutation with ``shuffle``).

    ``tell`` marks a combination as done, so a resumed run's re-told trials are skipped;
    failed trials (None/NaN) are not retried.
    """

    def __init__(self, space: SearchSpace, *, seed: int, mode: str, shuffle: bool = False) -> None:
        super().__init__(space, seed=seed, mode=mode)
        self.axes = [grid_values(p) for p in space.parameters]
        self.size = grid_size(self.axes)
        self._order: np.ndarray | None = None
        if shuffle:
            if self.size > MAX_SHUFFLED:
                raise BttacklerError(
                    f"--method grid: {self.size} combinations are too many to shuffle "
                    f"(at most {MAX_SHUFFLED}); run them in order"
                )
            self._order = self._rng.permutation(self.size)
        self._next = 0
        self._done: set[ParamsKey] = set()

    def ask(self) -> dict[str, Any]:
        while self._next < self.size:
            index = self._next if self._order is None else int(self._order[self._next])
            self._next += 1
            params = dict(zip(self.space.names, combination(self.axes, index), strict=True))
            key = params_key(params)
            if key not in self._done:
                self._done.add(key)
                return params
        raise SearchExhausted(f"all {self.size} combinations of the grid were asked")

    def tell(self, params: Mapping[str, Any], value: float | None) -> None:
        self._done.add(params_key(params))
