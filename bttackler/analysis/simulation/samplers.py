"""The search method, simulated: which pool trial runs next.

Random search draws from the pool without replacement while it lasts, then with replacement,
and counts how often a configuration ran again (a pool too small for the budget).
Model-based methods (TPE, GP, SMAC) run for real; each proposal is mapped to the nearest
configuration of the pool (:func:`nearest`), as Syne Tune's nearest-neighbour surrogate does,
and the method is told that configuration and its value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from bttackler.core.errors import BttacklerError
from bttackler.core.space import Parameter, SearchSpace


class Searcher(Protocol):
    """The ask/tell interface of ``bttackler.runtime.searchers`` (the run time builds them:
    the analysis stage takes one, it does not import the run time)."""

    def ask(self) -> dict[str, Any]: ...

    def tell(self, params: Mapping[str, Any], value: float | None) -> None: ...


class RandomPoolSampler:
    """Uniform draws from ``size`` pool trials: a seeded permutation, then with replacement."""

    def __init__(self, size: int, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._order = [int(k) for k in self._rng.permutation(size)]
        self.size = size
        self.repeats = 0  # draws of a configuration that had run already

    def next(self) -> int:
        if self._order:
            return self._order.pop()
        self.repeats += 1
        return int(self._rng.integers(self.size))

    def tell(self, key: int, value: float) -> None:
        pass


def _coordinate(p: Parameter, value: Any) -> float | None:
    """A numeric parameter's value on [0, 1] of its range (log scale where the type is);
    None for a categorical one."""
    if p.type == "choice":
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    low, high = p.low, p.high
    if p.is_log:
        if x <= 0 or not (low > 0 and high > 0):
            return None
        x, low, high = math.log(x), math.log(low), math.log(high)
    if not (math.isfinite(low) and math.isfinite(high)) or high == low:
        return 0.0
    return (x - low) / (high - low)


def nearest(
    space: SearchSpace, params: Mapping[str, Any], pool: Sequence[Mapping[str, Any]]
) -> int:
    """Index of the pool configuration nearest ``params``: the most categorical values equal
    first, then the smallest Euclidean distance over the numeric ones, each normalised to its
    range (log-scaled where the parameter is); ties: the lower index."""
    best, best_key = 0, (math.inf, math.inf)
    for index, candidate in enumerate(pool):
        mismatches, distance = 0, 0.0
        for p in space.parameters:
            a, b = params.get(p.name), candidate.get(p.name)
            ca, cb = _coordinate(p, a), _coordinate(p, b)
            if ca is None or cb is None:
                mismatches += a != b
            else:
                distance += (ca - cb) ** 2
        key = (mismatches, distance)
        if key < best_key:
            best, best_key = index, key
    return best


class NearestIndex:
    """:func:`nearest` over one pool, vectorised: the pool's coordinates and categorical codes
    computed once, each query a few numpy operations (a model-based method asks hundreds of
    times per simulated search). Same answer as :func:`nearest`, ties included."""

    def __init__(self, space: SearchSpace, pool: Sequence[Mapping[str, Any]]) -> None:
        self.space = space
        self.pool = pool
        self._coords: list[np.ndarray] = []
        self._codes: list[dict[Any, int]] = []
        self._code_arrays: list[np.ndarray] = []
        for p in space.parameters:
            values = [c.get(p.name) for c in pool]
            coords = [_coordinate(p, v) for v in values]
            self._coords.append(np.array([math.nan if c is None else c for c in coords]))
            codes: dict[Any, int] = {}
            array = np.empty(len(values), dtype=np.int64)
            for i, v in enumerate(values):
                try:
                    array[i] = codes.setdefault(v, len(codes))
                except TypeError:  # unhashable: never equal to a proposal's code
                    array[i] = -2 - i
            self._codes.append(codes)
            self._code_arrays.append(array)

    def query(self, params: Mapping[str, Any]) -> int:
        return int(self.ranking(params)[0])

    def ranking(self, params: Mapping[str, Any]) -> np.ndarray:
        """Every pool index, nearest ``params`` first (ties: the lower index)."""
        n = len(self.pool)
        mismatches = np.zeros(n, dtype=np.int64)
        distance = np.zeros(n)
        for j, p in enumerate(self.space.parameters):
            a = params.get(p.name)
            ca = _coordinate(p, a)
            coords = self._coords[j]
            if ca is None:
                try:
                    code = self._codes[j].get(a, -1)
                except TypeError:
                    code = -1
                mismatches += self._code_arrays[j] != code
                continue
            missing = np.isnan(coords)
            distance += np.where(missing, 0.0, (coords - ca) ** 2)
            if missing.any():  # a pool value with no coordinate: compared as values
                for i in np.flatnonzero(missing):
                    mismatches[i] += a != self.pool[int(i)].get(p.name)
        return np.lexsort((distance, mismatches))


MAPPINGS = ("nearest", "unused")


class SearcherPoolSampler:
    """A real search method (``tpe``, ``gp``, ``smac``, ``random``) whose every proposal is
    mapped to a pool configuration: the nearest one (``mapping="nearest"``), or the nearest
    one that has not run yet while any is left (``"unused"``); counts proposals mapped onto a
    configuration that had run already (``repeats``).

    A method that exploits proposes again and again near its best configuration: each such
    proposal is a new trial in a real run, but ``nearest`` runs the one recorded best trial
    again every time, and a halving rule promotes every copy of it. ``unused`` runs the
    recorded neighbours instead, as a real run would run new ones."""

    def __init__(
        self, searcher: Searcher, space: SearchSpace, pool: Sequence[Mapping[str, Any]],
        mapping: str = "nearest",
    ) -> None:  # fmt: skip
        if mapping not in MAPPINGS:
            raise BttacklerError(f"unknown mapping {mapping!r}; choose one of "
                                 f"{', '.join(MAPPINGS)}")  # fmt: skip
        self.searcher = searcher
        self.space = space
        self.pool = [dict(p) for p in pool]
        self.mapping = mapping
        self._index = NearestIndex(space, self.pool)
        self.repeats = 0
        self._used = np.zeros(len(self.pool), dtype=bool)

    def next(self) -> int:
        ranking = self._index.ranking(self.searcher.ask())
        key = int(ranking[0])
        if self.mapping == "unused":
            free = ranking[~self._used[ranking]]
            key = int(free[0]) if len(free) else key
        self.repeats += bool(self._used[key])
        self._used[key] = True
        return key

    def tell(self, key: int, value: float) -> None:
        self.searcher.tell(self.pool[key], value if math.isfinite(value) else None)


__all__ = ["MAPPINGS", "RandomPoolSampler", "Searcher", "SearcherPoolSampler", "nearest"]
