"""One contract suite run over every search method."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from bttackler.core.errors import BttacklerError
from bttackler.core.space import SearchSpace, space_from_mapping
from bttackler.runtime.searchers import METHODS, make_searcher
from bttackler.runtime.searchers.base import to_loss

MIXED = space_from_mapping(
    {
        "x": {"_type": "uniform", "_value": [-2.0, 2.0]},
        "lr": {"_type": "loguniform", "_value": [1e-4, 1.0]},
        "layers": {"_type": "randint", "_value": [1, 5]},
        "batch": {"_type": "quniform", "_value": [16, 128, 16]},
        "act": {"_type": "choice", "_value": ["relu", True, 3]},
        "noise": {"_type": "normal", "_value": [0.0, 1.0]},
    },
    source="mixed",
)

# MIXED as grid search can enumerate it: steps for the continuous ranges, a choice for the
# unbounded normal (float values, so the type checks below hold for every method).
GRIDDED = space_from_mapping(
    {
        "x": {"_type": "uniform", "_value": [-2.0, 2.0], "grid_points": 5},
        "lr": {"_type": "loguniform", "_value": [1e-4, 1.0], "grid_points": 5},
        "layers": {"_type": "randint", "_value": [1, 5]},
        "batch": {"_type": "quniform", "_value": [16, 128, 16]},
        "act": {"_type": "choice", "_value": ["relu", True, 3]},
        "noise": {"_type": "choice", "_value": [-1.0, 0.0, 1.0]},
    },
    source="gridded",
)


def space_for(method: str) -> SearchSpace:
    """The mixed space each method is held to: grid needs steps, the others take MIXED."""
    return GRIDDED if method == "grid" else MIXED


SMALL = space_from_mapping(  # grid_points: grid's steps, the other methods ignore them
    {
        "x": {"_type": "uniform", "_value": [-2.0, 2.0], "grid_points": 9},
        "y": {"_type": "uniform", "_value": [-2.0, 2.0], "grid_points": 9},
        "act": {"_type": "choice", "_value": ["relu", "tanh", "sigmoid"]},
    },
    source="small",
)


def objective(p: dict[str, Any]) -> float:
    """To maximise: best 0 at x=0.5, y=-0.5, act=tanh."""
    penalty = 0.0 if p["act"] == "tanh" else 1.0
    return -((p["x"] - 0.5) ** 2) - (p["y"] + 0.5) ** 2 - penalty


def mixed_value(p: dict[str, Any]) -> float:
    return float(p["x"] + math.log10(p["lr"]) + p["layers"] + p["batch"] / 100)


def best_after(method: str, space: SearchSpace, n: int, seed: int) -> float:
    searcher = make_searcher(method, space, seed=seed, mode="max")
    best = -math.inf
    for _ in range(n):
        params = searcher.ask()
        value = objective(params)
        best = max(best, value)
        searcher.tell(params, value)
    return best


@pytest.fixture(params=METHODS)
def method(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_asks_respect_types_and_bounds(method: str) -> None:
    searcher = make_searcher(method, space_for(method), seed=1, mode="min")
    for i in range(14):  # past every method's initial design
        params = searcher.ask()
        space_for(method).validate_params(params)
        assert type(params["layers"]) is int and type(params["batch"]) is int
        assert type(params["x"]) is float and type(params["noise"]) is float
        searcher.tell(params, mixed_value(params) if i % 5 else None)


def test_same_seed_same_asks(method: str) -> None:
    def run() -> list[dict[str, Any]]:
        searcher = make_searcher(method, space_for(method), seed=7, mode="max")
        asked = []
        for _ in range(12):
            params = searcher.ask()
            asked.append(params)
            searcher.tell(params, mixed_value(params))
        return asked

    assert run() == run()


def test_nan_and_infinities_are_failures_exactly_like_none(method: str) -> None:
    """Every searcher takes NaN, inf and -inf as a failed trial, the same as None: told one
    or the other for the same trials, two searchers of one seed ask the same next."""
    told = [None, math.nan, None, 1.0, math.inf, 2.0, None, -math.inf, 0.5, None, 3.0, math.nan]

    def asks(failure_as_none: bool) -> list[dict[str, object]]:
        searcher = make_searcher(method, space_for(method), seed=2, mode="max")
        asked = []
        for value in told + [None, 1.5]:
            params = searcher.ask()
            asked.append(params)
            finite = value is not None and math.isfinite(value)
            searcher.tell(params, value if finite or not failure_as_none else None)
        asked += [searcher.ask() for _ in range(3)]
        for params in asked:
            space_for(method).validate_params(params)
        return asked

    assert asks(failure_as_none=False) == asks(failure_as_none=True)


def test_a_failure_has_no_loss_and_max_is_negated() -> None:
    for failed in (None, math.nan, math.inf, -math.inf):
        assert to_loss(failed, "max") is None and to_loss(failed, "min") is None
    assert to_loss(0.9, "max") == -0.9 and to_loss(0.9, "min") == 0.9


def test_pending_asks_differ_and_can_be_told_in_any_order(method: str) -> None:
    searcher = make_searcher(method, space_for(method), seed=3, mode="min")
    for round_ in range(4):  # before and after the initial designs
        batch = [searcher.ask() for _ in range(4)]
        keys = {tuple(sorted((k, repr(v)) for k, v in p.items())) for p in batch}
        assert len(keys) == 4
        for params in reversed(batch):
            space_for(method).validate_params(params)
            searcher.tell(params, mixed_value(params) if round_ != 1 else None)


def test_tell_of_never_asked_params(method: str) -> None:
    searcher = make_searcher(method, space_for(method), seed=4, mode="max")
    rng = np.random.default_rng(0)
    for i in range(12):  # e.g. a resumed run re-telling finished trials
        params = space_for(method).sample(rng)
        searcher.tell(params, mixed_value(params) if i != 3 else None)
    far = {"x": 0.0, "lr": 0.01, "layers": 2, "batch": 32, "act": True, "noise": 9.0}
    searcher.tell(far, 1.0)  # outside gp/smac's mu +- 3 sigma range for "noise"
    for _ in range(3):
        params = searcher.ask()
        space_for(method).validate_params(params)
        searcher.tell(params, mixed_value(params))


@pytest.mark.parametrize("learner", [m for m in METHODS if m not in ("random", "grid")])
def test_model_based_methods_beat_random(learner: str) -> None:
    n = 30
    random_bests = [best_after("random", SMALL, n, seed) for seed in range(5)]
    assert best_after(learner, SMALL, n, seed=0) > float(np.median(random_bests))


def test_unknown_method_and_mode() -> None:
    with pytest.raises(BttacklerError, match="unknown method 'x'; choose one of random, tpe"):
        make_searcher("x", MIXED, seed=0, mode="max")
    with pytest.raises(ValueError, match="mode must be 'max' or 'min'"):
        make_searcher("random", MIXED, seed=0, mode="up")


def test_quiet(method: str, capfd: pytest.CaptureFixture[str]) -> None:
    best_after(method, SMALL, 14, seed=0)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
