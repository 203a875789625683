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


def test_sticky_guard_protects_for_good_once_protected() -> None:
    from bttackler.core.history import EpochRecord, TrialHistory
    from bttackler.diagnosis.guard import Guard, GuardSettings

    def at(trial: int, *losses: float) -> TrialHistory:
        epochs = tuple(EpochRecord(i, {"train_loss": v}) for i, v in enumerate(losses))
        return TrialHistory(trial, {}, 10, epochs)

    for sticky in (False, True):
        guard = Guard(GuardSettings(min_trials=3, top_fraction=0.34, sticky=sticky))
        for trial, first in ((1, 0.1), (2, 1.0), (3, 2.0)):
            guard.record(at(trial, first))
        assert guard.protects(at(1, 0.1))  # best of three at epoch 1
        for trial, second in ((2, 0.5), (3, 0.6)):
            guard.record(at(trial, 1.0, second))
        collapsed = at(1, 0.1, 9.0)
        guard.record(collapsed)
        assert guard.protects(collapsed) is sticky  # worst at epoch 2


def test_guard_sticky_is_validated() -> None:
    from bttackler.core.errors import BttacklerError
    from bttackler.diagnosis.guard import guard_settings

    assert guard_settings({"guard_sticky": True}).sticky
    with pytest.raises(BttacklerError, match="guard_sticky must be true or false"):
        guard_settings({"guard_sticky": "yes"})
