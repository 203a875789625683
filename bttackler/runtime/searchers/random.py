"""Random search: independent NNI-semantics draws from a seeded numpy Generator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bttackler.core.space import SearchSpace
from bttackler.runtime.searchers.base import ParamsKey, Searcher, params_key


class RandomSearcher(Searcher):
    """Draws every configuration independently; ``tell`` only clears the pending mark.

    Failed trials (None/NaN) need no handling. A draw equal to a pending configuration is
    redrawn (up to a few times), so parallel workers do not get duplicates.
    """

    def __init__(self, space: SearchSpace, *, seed: int, mode: str) -> None:
        super().__init__(space, seed=seed, mode=mode)
        self._pending: dict[ParamsKey, dict[str, Any]] = {}

    def ask(self) -> dict[str, Any]:
        params = self._fresh(self.space.sample(self._rng), self._pending)
        self._pending[params_key(params)] = params
        return params

    def tell(self, params: Mapping[str, Any], value: float | None) -> None:
        self._pending.pop(params_key(params), None)
