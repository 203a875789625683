"""Each trial's trouble from a run's verdicts, and the rules a shallow tree finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bttackler.analysis.learn.trouble import trouble_of, trouble_rules
from bttackler.analysis.metrics import RunData
from bttackler.core.space import space_from_mapping
from bttackler.core.store import TrialRow
from bttackler.diagnosis.encoding import columns


def row(trial_id: int, state: str) -> TrialRow:
    return TrialRow(id=trial_id, params={}, state=state, reason=None, value=0.5,
                    best_value=0.5, epochs=3, slot=0, started=0.0, ended=1.0, indicator=None,
                    rule=None, verdict_epoch=None, retry_of=None)  # fmt: skip


def verdict(trial_id: int, indicator: str, benign: bool = False) -> dict:
    return {"trial_id": trial_id, "indicator": indicator, "benign": benign, "acted": False}


def test_the_first_problem_verdict_recorded_or_acted_failed_and_unknown_outcomes() -> None:
    trials = (row(1, "finished"), row(2, "terminated"), row(3, "failed"), row(4, "stopped"),
              row(5, "finished"), row(6, "terminated"))  # fmt: skip
    verdicts = (verdict(1, "NMG", benign=True), verdict(1, "VGM"), verdict(1, "TWU"),
                verdict(2, "AGV"), verdict(4, "AGV"), verdict(5, "MSR"),
                verdict(6, "ASHA"))  # fmt: skip
    run = RunData("r", Path("r"), {}, trials, None, verdicts)
    # 4 was stopped by the budget: unknown; MSR and ASHA say worse, not broken; NMG is benign
    assert trouble_of(run) == {1: "VGM", 2: "AGV", 3: "failed", 5: None, 6: None}


SPACE = space_from_mapping(
    {
        "opt": {"_type": "choice", "_value": ["sgd", "adam"]},
        "lr": {"_type": "loguniform", "_value": [1e-4, 1.0]},
    }
)


def synthetic(n: int = 80) -> tuple[list[dict], list[str | None]]:
    """sgd with lr > 0.3 diverges (AGV); lr < 3e-4 learns nothing (SAC); the rest is fine."""
    rng = np.random.default_rng(0)
    configs, troubles = [], []
    for _ in range(n):
        params = {"opt": str(rng.choice(["sgd", "adam"])), "lr": float(10 ** rng.uniform(-4, 0))}
        trouble = None
        if params["opt"] == "sgd" and params["lr"] > 0.3:
            trouble = "AGV"
        elif params["lr"] < 3e-4:
            trouble = "SAC"
        configs.append(params)
        troubles.append(trouble)
    return configs, troubles


def test_rules_name_the_regions_where_trials_went_wrong_with_their_support() -> None:
    configs, troubles = synthetic()
    rules = trouble_rules(columns(SPACE), configs, troubles)
    texts = [r.text() for r in rules]
    agv = sum(t == "AGV" for t in troubles)
    sac = sum(t == "SAC" for t in troubles)
    assert any(t.startswith("opt = sgd and lr > 0.") and t.endswith(f"AGV in {agv} of {agv} trials")
               for t in texts), texts  # fmt: skip
    assert any(t.startswith("lr <= 0.000") and f"SAC in {sac} of {sac} trials" in t
               for t in texts), texts  # fmt: skip
    for rule in rules:  # every count can be checked against the configurations
        assert rule.bad <= rule.total and rule.share >= 0.75


def test_rules_for_one_indicator_and_nothing_to_tell_apart() -> None:
    configs, troubles = synthetic()
    only = trouble_rules(columns(SPACE), configs, troubles, target="AGV")
    assert only and all(set(r.indicators) == {"AGV"} for r in only)
    assert trouble_rules(columns(SPACE), configs, [None] * len(configs)) == []
