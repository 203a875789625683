from __future__ import annotations

import math

import pytest

from bttackler.diagnosis.guard import is_protected


def test_needs_min_trials() -> None:
    cohort = [float(i) for i in range(9)]
    assert not is_protected(0.0, cohort)
    assert is_protected(0.0, [*cohort, 9.0])


def test_best_tenth_is_protected() -> None:
    cohort = [float(i) for i in range(20)]
    assert [is_protected(x, cohort) for x in cohort[:3]] == [True, True, False]
    cohort30 = [float(i) for i in range(30)]  # 0.1 * 30 is 3.0000000000000004 in floats
    assert [is_protected(x, cohort30) for x in cohort30[:4]] == [True, True, True, False]


def test_ties_are_treated_alike() -> None:
    cohort = [0.5, 0.5, 0.5] + [1.0] * 7
    assert all(is_protected(0.5, cohort) for _ in range(3))
    assert not is_protected(1.0, cohort)


def test_nan_is_never_protected_and_never_better() -> None:
    cohort = [math.nan] * 9 + [1.0]
    assert not is_protected(math.nan, cohort)
    assert is_protected(1.0, cohort)


def test_matches_the_authors_percentile_rule() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    for n in range(10, 60):
        cohort = rng.permutation(n).astype(float).tolist()
        threshold = np.percentile(cohort, 10)
        for x in cohort:
            assert is_protected(x, cohort) == (x <= threshold)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"top_fraction": 0.0}, "top_fraction"),
        ({"top_fraction": 1.5}, "top_fraction"),
        ({"min_trials": 0}, "min_trials"),
        ({"min_trials": 2.5}, "min_trials"),
    ],
)
def test_bad_arguments(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        is_protected(1.0, [1.0] * 10, **kwargs)  # type: ignore[arg-type]
