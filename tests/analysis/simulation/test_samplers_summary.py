"""Nearest-configuration mapping and the interval figures of the simulation."""

from __future__ import annotations

import math

import pytest

from bttackler.analysis.simulation.samplers import SearcherPoolSampler, nearest
from bttackler.analysis.simulation.summary import interval, iqm
from bttackler.core.errors import BttacklerError
from bttackler.core.space import space_from_mapping

SPACE = space_from_mapping({
    "lr": {"_type": "loguniform", "_value": [1e-5, 1.0]},
    "act": {"_type": "choice", "_value": ["relu", "tanh"]},
    "depth": {"_type": "randint", "_value": [1, 9]},
})  # fmt: skip
POOL = [
    {"lr": 1e-4, "act": "relu", "depth": 2},
    {"lr": 1e-2, "act": "tanh", "depth": 2},
    {"lr": 2e-2, "act": "relu", "depth": 8},
]


def test_nearest_matches_categorical_values_first_then_the_log_scaled_distance() -> None:
    assert nearest(SPACE, {"lr": 1e-2, "act": "relu", "depth": 2}, POOL) in (0, 2)
    # log scale: 1e-3 is as far from 1e-4 as from 1e-2; depth decides for relu at 2
    assert nearest(SPACE, {"lr": 1e-3, "act": "relu", "depth": 2}, POOL) == 0
    # the categorical value wins over a closer lr
    assert nearest(SPACE, {"lr": 1e-4, "act": "tanh", "depth": 2}, POOL) == 1


def test_a_real_method_proposes_and_is_told_the_pool_configuration() -> None:
    from bttackler.runtime.searchers import make_searcher

    sampler = SearcherPoolSampler(make_searcher("tpe", SPACE, seed=0, mode="max"), SPACE, POOL)
    keys = [sampler.next() for _ in range(6)]
    assert all(0 <= k < 3 for k in keys)
    assert sampler.repeats == 6 - len(set(keys))
    for k in keys:
        sampler.tell(k, 0.5)
    sampler.tell(0, math.nan)  # a diverged trial: told as failed


class Always:
    """A method that exploits: the same proposal every time."""

    def ask(self) -> dict:
        return {"lr": 1e-4, "act": "relu", "depth": 2}

    def tell(self, params: object, value: float | None) -> None:
        pass


def test_unused_mapping_runs_the_neighbours_of_a_repeated_proposal() -> None:
    nearest_keys = SearcherPoolSampler(Always(), SPACE, POOL)
    assert [nearest_keys.next() for _ in range(4)] == [0, 0, 0, 0]
    assert nearest_keys.repeats == 3
    unused = SearcherPoolSampler(Always(), SPACE, POOL, "unused")
    # the proposal itself, then its nearest neighbours by the same rule (categorical values
    # first: relu at depth 8 before tanh), then, with every one used, the nearest again
    assert [unused.next() for _ in range(4)] == [0, 2, 1, 0]
    assert unused.repeats == 1
    with pytest.raises(BttacklerError, match="unknown mapping"):
        SearcherPoolSampler(Always(), SPACE, POOL, "farthest")


def test_iqm_is_the_mean_of_the_middle_half() -> None:
    assert iqm([1, 2, 3, 4, 100, -100, 2.5, 3.5]) == pytest.approx(2.75)
    assert math.isnan(iqm([]))


def test_bootstrap_interval_holds_the_iqm_and_is_reproducible() -> None:
    values = [50 + (i % 7) for i in range(40)]
    a, b = interval(values), interval(values)
    assert a == b and a.n == 40
    assert a.low <= a.iqm <= a.high and a.low >= 50 and a.high <= 56
    assert interval([math.nan]).n == 0
    assert interval([3.0] * 5).to_json() == {
        "iqm": 3.0, "low": 3.0, "high": 3.0, "median": 3.0, "n": 5,
        "spread_low": 3.0, "spread_high": 3.0,
    }  # fmt: skip
    wide = interval(list(range(101)))
    assert (wide.spread_low, wide.spread_high) == (2.5, 97.5)  # single searches land here


def test_best_so_far_bands_over_searches() -> None:
    from bttackler.analysis.simulation.summary import best_so_far

    runs = [[(1.0, 0.5), (3.0, 0.9)], [(2.0, 0.7)], []]
    bands = best_so_far(runs, "max", budget=4.0, points=5)  # t = 0, 1, 2, 3, 4
    assert bands["t"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert bands["median"] == [None, 0.5, pytest.approx(0.6), pytest.approx(0.8),
                               pytest.approx(0.8)]  # fmt: skip
    assert bands["q75"][3] == pytest.approx(0.85)
    assert best_so_far([[(1.0, 3.0), (2.0, 1.0)]], "min", 2.0, points=3)["median"] == [
        None,
        3.0,
        1.0,
    ]


def test_the_vectorised_index_answers_as_nearest_does() -> None:
    import numpy as np

    from bttackler.analysis.simulation.samplers import NearestIndex, nearest
    from bttackler.core.space import space_from_mapping

    space = space_from_mapping({
        "lr": {"_type": "loguniform", "_value": [1e-4, 1.0]},
        "depth": {"_type": "randint", "_value": [1, 5]},
        "opt": {"_type": "choice", "_value": ["sgd", "adam", True]},
    })  # fmt: skip
    rng = np.random.default_rng(0)
    pool = [space.sample(rng) for _ in range(60)] + [dict(space.sample(rng), lr=None)]
    pool += pool[:5]  # exact ties: the lower index wins in both
    index = NearestIndex(space, pool)
    for _ in range(200):
        query = space.sample(rng)
        assert index.query(query) == nearest(space, query, pool)
    assert index.query(pool[3]) == nearest(space, pool[3], pool) == 3
