"""The model of trouble behind --avoid-bad: when it may skip, the exploration floor, the cap
on skips in a row, and what counts as a problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from bttackler.core.errors import BttacklerError
from bttackler.core.space import space_from_mapping
from bttackler.core.store import Store
from bttackler.core.trial_state import TrialState
from bttackler.core.verdict import Verdict
from bttackler.diagnosis.avoid import (
    Avoider,
    AvoidSettings,
    avoid_settings,
    is_problem,
    outcomes_of_runs,
)

SPACE = space_from_mapping(
    {
        "opt": {"_type": "choice", "_value": ["sgd", "adam"]},
        "lr": {"_type": "loguniform", "_value": [1e-4, 1.0]},
    }
)
BAD = {"opt": "sgd", "lr": 0.5}
GOOD = {"opt": "adam", "lr": 0.001}


def taught(settings: AvoidSettings, bad: int = 16, good: int = 16) -> Avoider:
    avoider = Avoider(SPACE, settings, seed=0)
    for i in range(bad):
        avoider.observe({"opt": "sgd", "lr": 0.3 + i * 0.02}, True)
    for i in range(good):
        avoider.observe({"opt": "adam", "lr": 0.0005 + i * 5e-5}, False)
    return avoider


def test_nothing_is_skipped_before_enough_good_and_bad_examples() -> None:
    settings = AvoidSettings(explore=0.0, min_trials=12)
    avoider = taught(settings, bad=12, good=2)  # min_each 3: two good only
    assert not avoider.ready() and avoider.judge(BAD) is None
    avoider.observe(GOOD, False)
    assert avoider.ready()
    skip = avoider.judge(BAD)
    assert skip is not None and skip.probability >= 0.5
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


def earlier_run(tmp_path: Path, params: list[dict[str, object]]) -> Path:
    """A stored run: trial 1 failed, trial 2 got a problem verdict (recorded only), trial 3
    got NMG (benign), trial 4 was stopped by the budget (no outcome)."""
    store = Store.open(tmp_path)
    store.set_meta(objective="acc", mode="max")
    states = [TrialState.FAILED, TrialState.FINISHED, TrialState.TERMINATED, TrialState.STOPPED]
    for p, state in zip(params, states):
        tid = store.add_trial(p, 0, 0.0)
        store.end_trial(tid, state, None, 1.0)
    store.add_verdict(2, 1, "ERG", "vanishing", {}, False, False, 0.5)
    store.add_verdict(3, 1, "NMG", "no gain", {}, True, True, 0.5)
    store.close()
    return tmp_path


def test_an_earlier_runs_outcomes_teach_the_model(tmp_path: Path) -> None:
    params = [{"opt": "sgd", "lr": 0.5 + i / 10} for i in range(4)]
    run = earlier_run(tmp_path, params)
    learned = outcomes_of_runs([run], SPACE)
    assert [bad for _, bad in learned] == [True, True, False]  # failed, ERG, NMG; not stopped
    avoider = Avoider(SPACE, AvoidSettings(min_trials=3, min_each=1), seed=0)
    assert not avoider.ready()
    avoider.learn(learned)
    assert avoider.ready()  # it can skip from the search's first proposal


def test_an_earlier_run_of_another_space_is_refused_in_one_line(tmp_path: Path) -> None:
    run = earlier_run(tmp_path, [{"opt": "sgd", "lr": 0.1, "depth": 3}] * 4)
    with pytest.raises(BttacklerError, match="--avoid-learn-from .*: its trials were searched "
                       "over other parameters \\(depth not in this search space\\)"):  # fmt: skip
        outcomes_of_runs([run], SPACE)


def test_by_default_a_model_of_fewer_than_30_outcomes_skips_nothing() -> None:
    avoider = taught(AvoidSettings(explore=0.0), bad=15, good=14)
    assert not avoider.ready() and avoider.judge(BAD) is None
    avoider.observe(GOOD, False)
    skip = avoider.judge(BAD)
    assert skip is not None and skip.examples == 30
    assert avoider.judge(GOOD) is None
