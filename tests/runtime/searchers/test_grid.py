"""Grid search: which values each parameter type gives, the order, exhaustion and resume."""

from __future__ import annotations

import pytest

from bttackler.core.errors import BttacklerError
from bttackler.core.space import space_from_mapping
from bttackler.runtime.searchers import SearchExhausted, make_searcher
from bttackler.runtime.searchers.grid import combination, grid_size, grid_values


def values(spec: dict) -> tuple:
    return grid_values(space_from_mapping({"p": spec}).parameters[0])


def test_each_type_gives_nni_grid_values() -> None:
    assert values({"_type": "choice", "_value": ["b", "a", True]}) == ("b", "a", True)
    assert values({"_type": "randint", "_value": [2, 5]}) == (2, 3, 4)  # upper exclusive
    assert values({"_type": "quniform", "_value": [16, 64, 16]}) == (16, 32, 48, 64)
    # bounds off the step are kept, as sampling's clip reaches them
    assert values({"_type": "quniform", "_value": [0.1, 1.0, 0.4]}) == (0.1, 0.4, 0.8, 1.0)
    assert values({"_type": "qloguniform", "_value": [1, 10, 4]}) == (1, 4, 8, 10)
    assert values({"_type": "uniform", "_value": [0, 1], "grid_points": 3}) == (0.0, 0.5, 1.0)
    lr = values({"_type": "loguniform", "_value": [1e-4, 1e-2], "grid_points": 3})
    assert lr == pytest.approx((1e-4, 1e-3, 1e-2))


def test_a_range_without_steps_is_refused_naming_the_parameter() -> None:
    with pytest.raises(BttacklerError, match="'p' is loguniform without steps.*grid_points"):
        values({"_type": "loguniform", "_value": [1e-4, 1.0]})
    with pytest.raises(BttacklerError, match="'p' is normal, which has no bounds"):
        values({"_type": "normal", "_value": [0, 1]})
    with pytest.raises(BttacklerError, match="grid_points is for uniform and loguniform"):
        values({"_type": "randint", "_value": [0, 3], "grid_points": 2})
    with pytest.raises(BttacklerError, match="grid_points needs an integer >= 2, got 1"):
        values({"_type": "uniform", "_value": [0, 1], "grid_points": 1})


def test_combination_is_mixed_radix_with_the_last_axis_fastest() -> None:
    axes = [("a", "b"), (1, 2, 3)]
    assert grid_size(axes) == 6
    assert [combination(axes, i) for i in range(6)] == [
        ("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2), ("b", 3),
    ]  # fmt: skip


SPACE = space_from_mapping(
    {
        "opt": {"_type": "choice", "_value": ["sgd", "adam"]},
        "depth": {"_type": "randint", "_value": [1, 4]},
    }
)


def ask_all(searcher) -> list[tuple]:
    asked = []
    while True:
        try:
            params = searcher.ask()
        except SearchExhausted:
            return asked
        asked.append((params["opt"], params["depth"]))


def test_every_combination_once_in_file_order_then_exhausted() -> None:
    searcher = make_searcher("grid", SPACE, seed=0, mode="max")
    assert ask_all(searcher) == [
        ("sgd", 1), ("sgd", 2), ("sgd", 3), ("adam", 1), ("adam", 2), ("adam", 3),
    ]  # fmt: skip
    with pytest.raises(SearchExhausted, match="all 6 combinations"):
        searcher.ask()


def test_shuffle_is_a_seeded_permutation() -> None:
    ordered = ask_all(make_searcher("grid", SPACE, seed=0, mode="max"))
    first = ask_all(make_searcher("grid", SPACE, seed=3, mode="max", shuffle=True))
    again = ask_all(make_searcher("grid", SPACE, seed=3, mode="max", shuffle=True))
    other = ask_all(make_searcher("grid", SPACE, seed=4, mode="max", shuffle=True))
    assert first == again and sorted(first) == sorted(ordered)
    assert first != ordered or other != ordered


def test_a_resumed_run_does_not_ask_what_ran() -> None:
    searcher = make_searcher("grid", SPACE, seed=0, mode="max")
    searcher.tell({"opt": "sgd", "depth": 2}, 0.5)  # re-told on resume
    searcher.tell({"opt": "adam", "depth": 1}, None)  # a failed trial is not retried
    assert ask_all(searcher) == [("sgd", 1), ("sgd", 3), ("adam", 2), ("adam", 3)]
