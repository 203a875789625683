"""The model of trouble behind --avoid-bad: when it may skip, the exploration floor, the cap
on skips in a row, and what counts as a problem."""

from __future__ import annotations

import pytest

from bttackler.core.errors import BttacklerError
from bttackler.core.space import space_from_mapping
from bttackler.core.verdict import Verdict
from bttackler.diagnosis.avoid import Avoider, AvoidSettings, avoid_settings, is_problem

SPACE = space_from_mapping(
    {
        "opt": {"_type": "choice", "_value": ["sgd", "adam"]},
        "lr": {"_type": "loguniform", "_value": [1e-4, 1.0]},
    }
)
BAD = {"opt": "sgd", "lr": 0.5}
GOOD = {"opt": "adam", "lr": 0.001}


def taught(settings: AvoidSettings, bad: int = 8, good: int = 8) -> Avoider:
    avoider = Avoider(SPACE, settings, seed=0)
    for i in range(bad):
        avoider.observe({"opt": "sgd", "lr": 0.3 + i * 0.05}, True)
    for i in range(good):
        avoider.observe({"opt": "adam", "lr": 0.0005 + i * 1e-4}, False)
    return avoider


def test_nothing_is_skipped_before_enough_good_and_bad_examples() -> None:
    avoider = taught(AvoidSettings(explore=0.0), bad=12, good=2)  # min_each 3: two good only
    assert not avoider.ready() and avoider.judge(BAD) is None
    avoider.observe(GOOD, False)
    assert avoider.ready()
    skip = avoider.judge(BAD)
    assert skip is not None and skip.probability >= 0.8
    assert skip.reason() == (
        f"avoid-bad: P(bad) {skip.probability:.2f} from a model of 15 trials (12 bad)"
    )
    assert avoider.judge(GOOD) is None  # predicted good: it runs


def test_the_exploration_floor_runs_a_share_of_the_predicted_bad() -> None:
    avoider = taught(AvoidSettings(explore=0.25, max_skips=1000))
    ran = sum(avoider.judge(BAD) is None for _ in range(400))
    assert avoider.explored == ran and avoider.skipped == 400 - ran
    assert 0.18 < ran / 400 < 0.32  # seeded: the same every run
    never = taught(AvoidSettings(explore=1.0))
    assert all(never.judge(BAD) is None for _ in range(20))


def test_after_max_skips_in_a_row_one_runs_anyway() -> None:
    avoider = taught(AvoidSettings(explore=0.0, max_skips=3))
    assert [avoider.judge(BAD) is None for _ in range(8)] == [
        False, False, False, True, False, False, False, True,
    ]  # fmt: skip


def test_what_counts_as_a_problem() -> None:
    assert is_problem(Verdict("AGV", "nan", 1, {}))
    assert is_problem(Verdict("NMG", "stalled, not converged", 5, {}))
    assert not is_problem(Verdict("NMG", "converged", 5, {}, benign=True))
    assert not is_problem(Verdict("MSR", "below the median", 3, {}))
    assert not is_problem(Verdict("ASHA", "rung 0", 1, {}))


def test_settings_are_validated_in_one_line() -> None:
    assert avoid_settings({"threshold": 0.6}).threshold == 0.6
    with pytest.raises(BttacklerError, match="avoid"):
        avoid_settings({"threshold": 2.0})
    with pytest.raises(BttacklerError, match="avoid"):
        avoid_settings({"thresold": 0.6})
