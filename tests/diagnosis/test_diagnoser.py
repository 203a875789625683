"""Diagnoser: one thread per indicator, first verdict per trial, contained failures, guard."""

from __future__ import annotations

import threading
import time

from bttackler.core.history import EpochRecord, TrialHistory
from bttackler.core.verdict import Verdict
from bttackler.diagnosis import Diagnoser, GuardSettings
from bttackler.diagnosis.indicators import Indicator


class _Fires(Indicator):  # type: ignore[type-arg]
    short_name = "FIRE"
    stage = "any"
    guarded = True

    def __init__(self) -> None:
        self.early_fraction = 0.5
        self.settings = None

    def judge(self, history: TrialHistory) -> Verdict | None:
        return Verdict("FIRE", "always", history.epochs[-1].epoch, {"x": 1.0})


class _Raises(_Fires):
    short_name = "BOOM"

    def judge(self, history: TrialHistory) -> Verdict | None:
        raise RuntimeError("broken indicator")


def event(trial_id: int, losses: list[float]) -> TrialHistory:
    """A trial's history after it reported ``losses`` (one epoch each)."""
    epochs = tuple(EpochRecord(i, {"train_loss": v}) for i, v in enumerate(losses))
    return TrialHistory(trial_id, {}, 10, epochs)


def ended(trial_id: int) -> int:
    """The end of a trial that ran to completion."""
    return trial_id


def collect(diagnoser_args, events, wait=0.3):
    got: list[tuple[int, str]] = []
    lock = threading.Lock()

    def sink(trial_id: int, verdict: Verdict) -> None:
        with lock:
            got.append((trial_id, verdict.indicator))

    indicators, guard = diagnoser_args
    d = Diagnoser(indicators, sink, guard=guard)
    for e in events:
        if isinstance(e, TrialHistory):
            d.epoch_reported(e)
        else:
            d.trial_ended(e, completed=True)
    time.sleep(wait)
    d.close()
    return got, d


def test_first_verdict_per_trial_only_and_errors_are_contained():
    got, d = collect(
        ([_Fires(), _Raises()], GuardSettings(enabled=False)),
        [event(1, [1.0]), event(1, [1.0, 0.9]), event(2, [1.0])],
    )
    assert sorted(got) == [(1, "FIRE"), (2, "FIRE")]
    assert len(d.errors) == 3 and d.errors[0].rule == "BOOM" and d.errors[0].trial_id == 1
    assert "broken indicator" in d.errors[0].error and str(d.errors[0]).startswith(
        "BOOM on trial 1: "
    )


def test_a_trial_that_ended_is_forgotten():
    got, _ = collect(
        ([_Fires()], GuardSettings(enabled=False)),
        [event(1, [1.0]), ended(1)],
    )
    assert got == [(1, "FIRE")]


def test_guard_spares_the_best_trials_once_enough_reached_the_epoch():
    got, d = collect(
        ([_Fires()], GuardSettings(min_trials=10, top_fraction=0.1)),
        [event(t, [1.0 + t]) for t in range(2, 12)] + [event(1, [1.0])],
    )
    assert 1 not in {t for t, _ in got}  # among the best 10% of 11 at epoch 1: spared
    assert 11 in {t for t, _ in got}  # the worst is never spared
    assert not d.guard.protects(event(12, [20.0]))
    assert not Diagnoser([], lambda *_: None).guard.protects(event(1, [0.1]))  # cohort of 0


def test_bttackler_plus_msr_arm_runs_the_indicators_and_msr_together() -> None:
    from pathlib import Path

    from bttackler.core.config import load_config, run_settings
    from bttackler.diagnosis import make_diagnoser_factory
    from bttackler.runtime.arms import arm_config

    for arm, expected in (("bttackler+msr", ["LAR1", "MSR"]), ("lce", ["LAR1", "LCE"])):
        config = arm_config(load_config(cwd=Path("/nonexistent")), arm, "min")
        settings = run_settings(config)
        factory = make_diagnoser_factory(config, settings, objective="mse", mode="min")
        assert factory is not None
        diagnoser = factory(lambda trial_id, verdict: None)
        try:
            names = [rule.short_name for rule in diagnoser.rules]
        finally:
            diagnoser.close()
        assert names[-2:] == expected and len(names) == 12  # the 11 indicators and the rule
        assert settings.diagnosis is (arm == "bttackler+msr")  # indicators act or only record


def test_the_cohorts_finished_trials_and_everyone_so_far() -> None:
    from bttackler.diagnosis.diagnoser import FinishedTrials

    def h(trial_id: int) -> TrialHistory:
        return TrialHistory(trial_id=trial_id, params={}, max_epochs=3)

    trials = FinishedTrials()
    for trial_id in (1, 2, 3):
        trials.update(h(trial_id))
    trials.ended(1, completed=False)  # stopped: ASHA still compares with it
    trials.ended(2, completed=True)
    assert [x.trial_id for x in trials.snapshot()] == [2]
    assert [x.trial_id for x in trials.everyone()] == [2, 1, 3]
