"""The comparison metrics on hand-computed cases (paper section 3.4, Tables 2-5)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bttackler.analysis import metrics, paper_tables
from bttackler.analysis.metrics import RunData, Scored, TsbaStatus
from bttackler.core.objective import CountRule
from bttackler.core.store import TrialRow


def row(id: int, state: str, value: float | None, ended: float | None, *,
        best: float | None = None, indicator: str | None = None) -> TrialRow:  # fmt: skip
    return TrialRow(id, {}, state, None, value, best if best is not None else value, 3, 0,
                    0.0, ended, indicator, None, None, None)  # fmt: skip


def scored(*pairs: tuple[float, float]) -> list[Scored]:
    return [Scored(i + 1, v, t) for i, (v, t) in enumerate(pairs)]


def run(name: str, rows: list[TrialRow], budget: float = 60.0, mode: str = "max") -> RunData:
    meta = {"mode": mode, "objective": "acc", "budget": budget, "task": "t"}
    return RunData(name, Path(name), meta, tuple(rows), budget)


# ------------------------------------------------------------- which trials count
def test_counted_trials_rule():
    rows = [
        row(1, "finished", 0.5, 10.0),
        row(2, "terminated", 0.3, 5.0, best=0.6, indicator="NMG"),  # benign, yet its last value
        row(3, "terminated", 0.2, 4.0, best=0.7, indicator="ERG"),  # problem: last value
        row(4, "failed", 0.9, 3.0),
        row(5, "stopped", 0.9, 60.0),
        row(6, "interrupted", 0.9, None),
        row(7, "finished", math.nan, 2.0),  # not finite: does not count
        row(8, "finished", 0.8, 61.0),  # after the budget
        row(9, "terminated", 0.1, 4.0, indicator="lce"),  # ETR rule: last value
    ]
    got = metrics.counted_trials(rows, CountRule.LAST, budget=60.0)
    assert [(s.trial_id, s.value, s.time) for s in got] == [
        (3, 0.2, 4.0), (9, 0.1, 4.0), (2, 0.3, 5.0), (1, 0.5, 10.0)
    ]  # fmt: skip
    assert len(metrics.counted_trials(rows, CountRule.LAST)) == 5  # no budget: trial 8 counts
    best = metrics.counted_trials(rows, CountRule.BEST, budget=60.0)  # every trial alike
    assert [(s.trial_id, s.value) for s in best] == [(3, 0.7), (9, 0.1), (2, 0.6), (1, 0.5)]


# ------------------------------------------------------------- Table 2
def test_top1_and_top10_mean_respect_the_mode():
    values = [float(v) for v in range(1, 13)]  # 1..12
    assert metrics.top1(values, "max") == 12.0
    assert metrics.top_k_mean(values, "max") == pytest.approx(sum(range(3, 13)) / 10)
    assert metrics.top1(values, "min") == 1.0
    assert metrics.top_k_mean(values, "min") == pytest.approx(5.5)
    assert metrics.top_k_mean([2.0, 4.0], "max") == 3.0  # fewer than 10: all of them
    assert metrics.top_k_mean([], "max") is None


def test_top10hr_without_ties():
    i = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]  # top 10: 0.9 .. 0.45
    j = [0.85, 0.75, 0.65, 0.55, 0.45, 0.35]
    assert metrics.top10_hits(i, j, "max") == 5
    assert metrics.top10_hit_ratio(i, j, "max") == 50.0
    # minimised: 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 0.95 -> i has 0.1 0.2 0.3 0.95
    i = [0.1, 0.2, 0.3, 0.95, 0.96, 0.97, 0.98, 0.99]
    j = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert metrics.top10_hit_ratio(i, j, "min") == 40.0
    assert metrics.top10_hit_ratio(j, i, "min") == 60.0


def test_top10hr_ties_share_the_places_symmetrically():
    # 8 strictly better values, then 4 tied at 0.5 for 2 places: 1 of them from i, 3 from j.
    i = [1.0, 0.99, 0.98, 0.97, 0.5]
    j = [0.96, 0.95, 0.94, 0.93, 0.5, 0.5, 0.5]
    assert metrics.top10_hits(i, j, "max") == pytest.approx(4 + 2 * 1 / 4)
    assert metrics.top10_hit_ratio(i, j, "max") == pytest.approx(45.0)
    assert metrics.top10_hit_ratio(j, i, "max") == pytest.approx(55.0)
    # all 20 equal: an even split
    assert metrics.top10_hit_ratio([0.3] * 10, [0.3] * 10, "max") == pytest.approx(50.0)


def test_top10hr_small_unions_and_empty_runs():
    assert metrics.top10_hit_ratio([0.9, 0.1], [0.5], "max") == pytest.approx(200 / 3)
    assert metrics.top10_hit_ratio([], [0.5], "max") == 0.0
    assert metrics.top10_hit_ratio([], [], "max") is None
    with pytest.raises(ValueError, match="mode"):
        metrics.top10_hit_ratio([1.0], [1.0], "up")


# ------------------------------------------------------------- Table 4
def test_tsba_hand_computed():
    baseline = scored((0.5, 10.0), (0.8, 40.0), (0.8, 50.0), (0.7, 55.0))  # A_j 0.8 at T_j 40
    arm = scored((0.6, 5.0), (0.85, 30.0), (0.9, 35.0))  # first >= 0.8 at 30
    got = metrics.tsba(arm, baseline, "max")
    assert got.status is TsbaStatus.OK
    assert (got.baseline_best, got.baseline_time, got.arm_time) == (0.8, 40.0, 30.0)
    assert got.tsba == pytest.approx(25.0)
    slower = metrics.tsba(scored((0.8, 60.0)), baseline, "max")  # equal value counts as reached
    assert slower.tsba == pytest.approx(-50.0)


def test_tsba_minimised_objective():
    baseline = scored((0.3, 20.0), (0.2, 80.0))
    arm = scored((0.25, 10.0), (0.19, 20.0))
    assert metrics.tsba(arm, baseline, "min").tsba == pytest.approx(75.0)


def test_tsba_not_reached_is_a_status_not_a_number():
    got = metrics.tsba(scored((0.5, 1.0)), scored((0.8, 40.0)), "max")
    assert got.status is TsbaStatus.NOT_REACHED and got.tsba is None
    assert got.to_json()["status"] == "not reached"
    assert metrics.tsba(scored((0.5, 1.0)), [], "max").status is TsbaStatus.NO_BASELINE
    assert metrics.tsba(scored((0.9, 1.0)), scored((0.8, 0.0)), "max").tsba is None


# ------------------------------------------------------------- Table 3, 5, over time, repeats
def test_trials_by_time_and_increase_ratio():
    s = scored((0.1, 5.0), (0.2, 10.0), (0.3, 30.0), (0.4, 60.0))
    assert [metrics.trials_by(s, t) for t in (10.0, 30.0, 60.0)] == [2, 3, 4]
    assert metrics.increase_ratio(6, 4) == 50.0
    assert metrics.increase_ratio(3, 0) is None


def test_top10_mean_over_time_and_counts():
    s = scored((0.2, 1.0), (0.4, 2.0), (0.1, 2.0))
    # from the k-th counted trial on
    assert metrics.top_k_mean_over_time(s, "max", k=2) == [(2.0, pytest.approx(0.3))]
    assert metrics.count_over_time(s) == [(1.0, 1), (2.0, 3)]


def test_tables_with_a_baseline_and_repeats():
    base = run("base", [row(1, "finished", 0.5, 5.0), row(2, "finished", 0.7, 40.0)])
    arm1 = run("a1", [row(1, "terminated", 0.1, 2.0, indicator="ERG"),
                      row(2, "finished", 0.8, 8.0), row(3, "finished", 0.6, 20.0)])  # fmt: skip
    arm2 = run("a2", [row(1, "finished", 0.6, 30.0)])
    arms = {"base": [base, base], "btt": [arm1, arm2]}
    t2 = {r["arm"]: r for r in paper_tables.table2(arms, "base", CountRule.LAST)}
    assert t2["base"]["top10hr"] is None
    # repeat 1: union 0.8 0.7 0.6 0.5 0.1 -> arm has 3 of 5 = 60%; repeat 2: 1 of 3 = 33.3%
    assert t2["btt"]["top10hr"]["mean"] == pytest.approx((60 + 100 / 3) / 2)
    assert t2["btt"]["top10hr"]["std"] is not None
    t3 = {r["arm"]: r for r in paper_tables.table3(arms, "base", CountRule.LAST)}
    full = t3["btt"]["points"][-1]
    assert full["trials"]["mean"] == 2.0  # 3 and 1
    assert full["increase"]["mean"] == pytest.approx((50.0 - 50.0) / 2)
    (t4,) = paper_tables.table4(arms, "base", CountRule.LAST)
    assert [r["status"] for r in t4["repeats"]] == ["ok", "not reached"]
    assert t4["tsba"]["mean"] == pytest.approx(80.0) and t4["tsba"]["missing"] == 1
    t5 = {r["arm"]: r for r in paper_tables.table5(arms)}
    assert t5["btt"]["claimed"]["ERG"]["mean"] == 0.5
    assert t5["base"]["claimed"]["ERG"]["mean"] == 0


def test_spread():
    assert paper_tables.spread([1.0, 3.0]).to_json() == {"mean": 2.0, "std": pytest.approx(2**0.5),
                                                    "n": 2, "missing": 0}  # fmt: skip
    assert paper_tables.spread([None]).mean is None


def test_compare_warns_about_a_baseline_with_diagnosis_and_unlike_runs():
    base = run("base", [])
    arm = run("arm", [])
    assert paper_tables.check_comparable([base, arm]) == []
    base.meta["diagnosis"] = True  # type: ignore[index]
    base.meta["workers"] = 1  # type: ignore[index]
    arm.meta["workers"] = 2  # type: ignore[index]
    arm.meta["space"] = "wide.yaml"  # type: ignore[index]  (the other run has none recorded)
    warnings = paper_tables.check_comparable([base, arm])
    assert "runs differ in workers: 1, 2" in warnings
    assert any("baseline (first run, base) had diagnosis on" in w for w in warnings)
    assert not any("space" in w for w in warnings)
