"""Search methods behind one ask/tell interface; library adapters are imported lazily."""

from __future__ import annotations

from bttackler.core.errors import BttacklerError
from bttackler.core.space import SearchSpace
from bttackler.runtime.searchers.base import Searcher, SearchExhausted

__all__ = ["METHODS", "SearchExhausted", "Searcher", "make_searcher"]

METHODS: tuple[str, ...] = ("random", "tpe", "gp", "smac", "grid")


def make_searcher(
    method: str, space: SearchSpace, *, seed: int, mode: str, shuffle: bool = False
) -> Searcher:
    """Build the searcher for ``method`` (one of :data:`METHODS`); ``shuffle`` is grid's:
    a seeded order instead of the file's."""
    if method == "random":
        from bttackler.runtime.searchers.random import RandomSearcher

        return RandomSearcher(space, seed=seed, mode=mode)
    if method == "tpe":
        from bttackler.runtime.searchers.tpe import TPESearcher

        return TPESearcher(space, seed=seed, mode=mode)
    if method == "gp":
        from bttackler.runtime.searchers.gp import GPSearcher

        return GPSearcher(space, seed=seed, mode=mode)
    if method == "smac":
        from bttackler.runtime.searchers.smac import SMACSearcher

        return SMACSearcher(space, seed=seed, mode=mode)
    if method == "grid":
        from bttackler.runtime.searchers.grid import GridSearcher

        return GridSearcher(space, seed=seed, mode=mode, shuffle=shuffle)
    raise BttacklerError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
