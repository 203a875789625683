"""Calibration's pieces on a hand-made pool: the overrides table, the top-10 constraint, and a
fit that takes a threshold only when it pays and stops no top-10 trial."""

from __future__ import annotations

import math

from bttackler.analysis.replay import ReplayEvent
from bttackler.analysis.simulation.calibrate import Settings, as_table, fit, top10_false_alarms
from bttackler.analysis.simulation.pool import Pool, PoolTrial
from bttackler.core.config import deep_merge, load_config
from bttackler.core.history import EpochRecord, LayerStat, TrialHistory
from bttackler.diagnosis import build_from_config


def slow_trial(key: int, ratio: float, final: float, seconds: float = 20.0) -> PoolTrial:
    """Ten epochs with the given weight update ratio; the loss falls 20% an epoch for a good
    trial, 0.2% for a wasting one (below SAC's 99% of chance, above PLC's 0.1%: TWU's alone)."""
    records, events = [], []
    for e in range(10):
        value = final if e == 9 else 0.1
        loss = 2.3 * 0.8**e if final > 0.5 else 2.25 - 0.004 * e
        weights = (LayerStat(0, "fc0", {"update_ratio": ratio}),)
        records.append(EpochRecord(e, {"val_acc": value, "train_loss": loss}, weights=weights))
        history = TrialHistory(key, {"k": key}, 10, tuple(records), chance_loss=math.log(10))
        events.append(ReplayEvent((e + 1) * seconds / 10, key, True, history))
    objective = tuple(final if e == 9 else 0.1 for e in range(10))
    return PoolTrial(key, "run", {"k": key}, tuple(events), seconds, objective)


def pool() -> Pool:
    # 10 good trials (steps 1e-2), 10 wasting ones at 3e-4 (above TWU's 2e-4: not stopped by
    # default) that end at chance: a bound of 4e-4 stops them and pays
    trials = [slow_trial(k, 1e-2, 0.9 + k / 1000) for k in range(10)]
    trials += [slow_trial(10 + k, 3e-4, 0.1) for k in range(10)]
    return Pool(tuple(trials), "val_acc", "max", 10, math.log(10), None, ("run",), 0)


def test_overrides_become_a_config_table() -> None:
    table = as_table({("TWU", "min_update_ratio"): 4e-4, ("SAC", "from_epoch"): 6.0})
    assert table == {"indicators": {"SAC": {"from_epoch": 6}, "TWU": {"min_update_ratio": 4e-4}}}


def test_the_top10_constraint_counts_problem_verdicts_on_the_best_trials() -> None:
    indicators, _ = build_from_config(load_config())
    assert top10_false_alarms(pool(), indicators) == 0
    strict = {"indicators": {"SAC": {"share_of_chance": 0.01}}}  # stops every trial at epoch 4
    indicators, _ = build_from_config(deep_merge(load_config(), strict))
    assert top10_false_alarms(pool(), indicators) == 10


def test_fit_takes_a_bound_that_pays_and_spares_the_top10() -> None:
    knobs = [("TWU", "min_update_ratio", (1e-4, 2e-4, 4e-4, 2e-2))]
    settings = Settings(method="random", seeds=4, workers=2, budget=100.0)
    overrides, start, best = fit([pool()], load_config(), settings, None, knobs)
    assert overrides == {("TWU", "min_update_ratio"): 4e-4}  # 2e-2 would stop the top 10
    assert best.false_alarms == 0 and best.top10hr > start.top10hr
