"""`bttackler replay`: a real run (the fault task, a custom indicator) replayed with its own
settings reproduces its live verdicts exactly. The guard is off in that run: with it the
verdicts depend on the order in which trials' epochs reached the cohort."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bttackler.analysis.metrics import load_run
from bttackler.analysis.replay import (
    load_events,
    replay,
    replay_config,
    simulate,
    trial_events,
)
from bttackler.core.history import STAT_NAMES, EarlyEvidence
from bttackler.core.objective import CountRule
from bttackler.core.store import Store, TrialRow
from bttackler.diagnosis import GuardSettings
from bttackler.diagnosis.indicators import build_indicators

ROOT = Path(__file__).resolve().parents[2]
FAULT_TASK = str(ROOT / "tests" / "fixtures" / "fault_task.py")

LOW = """
def low(history):
    score = history.metric("score")
    if len(score) >= 2 and score[-1] < -0.05:
        return f"score {score[-1]:.3f} < -0.05"
    return None
"""


def bt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bttackler.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)  # fmt: skip


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("replay")
    (tmp / "low.py").write_text(LOW)
    (tmp / "cfg.toml").write_text(
        '[diagnosis]\nguard = false\n[indicators]\nenabled = ["PLC", "NMG"]\n'
        f'[indicators.custom]\nLOW = "{tmp / "low.py"}:low"\n'
    )
    out = bt("run", "--task", FAULT_TASK, "--method", "random", "--budget", "60s",
             "--max-trials", "8", "--seed", "3", "--results-dir", str(tmp), "--name", "r",
             "--plain", "--config", str(tmp / "cfg.toml"),
             "--task-opt", "seconds=0.25")  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return tmp / "r"


@pytest.mark.slow
def test_replay_with_the_runs_own_settings_reproduces_its_live_verdicts(live_run):
    run = load_run(live_run)
    store = Store.open(live_run)
    live: dict[tuple[int, str], int] = {}
    for v in store.verdicts():  # the first verdict per trial and indicator
        live.setdefault((v["trial_id"], v["indicator"]), v["epoch"])
    store.close()
    assert live, "the custom indicator should have fired in the live run"
    doc = replay(run, replay_config(live_run), count=CountRule.LAST)
    by_name = {r["indicator"]: r for r in doc["indicators"]}
    replayed = {(c["trial_id"], name): c["epoch"]
                for name, r in by_name.items() if name != "all" for c in r["claims"]}  # fmt: skip
    assert replayed == live
    acted = {t.id: (t.indicator, t.verdict_epoch) for t in run.trials if t.indicator}
    combined = {c["trial_id"]: (c["indicator"], c["epoch"]) for c in by_name["all"]["claims"]}
    assert combined == acted
    assert all(c["saved"] >= 0 for c in by_name["LOW"]["claims"])


@pytest.mark.slow
def test_replay_cli_with_other_thresholds(live_run, tmp_path):
    other = tmp_path / "never.py"
    other.write_text("def never(history):\n    return None\n")
    cfg = tmp_path / "t.toml"
    cfg.write_text(f'[indicators.custom]\nLOW = "{other}:never"\n')
    out = bt("replay", str(live_run), "--config", str(cfg), "--indicators", "LOW", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [r["indicator"] for r in doc["indicators"]] == ["LOW"]
    assert doc["indicators"][0]["claimed"] == 0
    out = bt("replay", str(live_run))
    assert out.returncode == 0, out.stderr
    assert "LOW" in out.stdout and "false alarms" in out.stdout
    out = bt("replay", str(live_run), "--indicators", "NOPE")
    assert out.returncode == 2 and out.stderr.startswith("error: --indicators: unknown indicator")
    out = bt("replay", str(live_run), "--indicators", "erg,Nmg", "--json")  # any case
    assert out.returncode == 0, out.stderr
    assert {r["indicator"] for r in json.loads(out.stdout)["indicators"]} - {"all"} == {
        "ERG",
        "NMG",
    }


def test_histories_are_rebuilt_as_the_monitor_builds_them():
    trial = TrialRow(7, {"lr": 0.1}, "finished", None, 0.5, 0.5, 2, 0, 0.0, 9.0, None, None,
                     None, None)  # fmt: skip
    grad = [float(i) for i in range(len(STAT_NAMES))]
    events = trial_events(
        trial, 4,
        epochs=[(0, 1.0, {"loss": 2.0}), (1, 2.0, {"loss": 1.0})],
        layer_stats=[(0, "grad", 1, "fc2", grad), (0, "grad", 0, "fc1", grad),
                     (0, "activation", 0, "relu", [0.4]), (1, "weight", 0, "fc1", grad)],
        nonfinite=[(1, 3, "fc1", 2.0, 0.0, 1.5)],
    )  # fmt: skip
    assert [(e.time, e.is_epoch) for e in events] == [(1.0, True), (1.5, False), (2.0, True)]
    first = events[0].history.epochs[0]
    assert [s.name for s in first.grads] == ["fc1", "fc2"]  # sorted by layer index
    assert first.grads[0].values["abs_max"] == STAT_NAMES.index("abs_max")
    assert first.activations[0].values == {"inactive_ratio": 0.4}
    assert events[1].history.nonfinite[0].epoch == 1 and len(events[1].history.epochs) == 1
    assert len(events[2].history.nonfinite) == 1 and events[2].history.epochs[1].weights


@pytest.mark.slow
def test_events_of_all_trials_are_merged_by_time(live_run):
    events = load_events(load_run(live_run))
    times = [e.time for e in events]
    assert times == sorted(times) and len({e.trial_id for e in events}) > 1


def test_the_early_record_is_replayed_inside_epoch_1_and_judged_there():
    trial = TrialRow(8, {}, "finished", None, 0.1, 0.1, 2, 0, 0.0, 9.0, None, None, None, None)
    dead = EarlyEvidence(0, 12, 2, 1.0, "acts.3", 7, 12, 2.30, 2.30, 4)
    events = trial_events(
        trial, 20,
        epochs=[(0, 2.0, {"train_loss": 2.3}), (1, 3.0, {"train_loss": 2.3})],
        layer_stats=[],
        nonfinite=[(0, 5, "fc1", 1.0, 0.0, 1.5)],
        chance_loss=2.302585,
        early=[(0, 7, "acts.3", dead.to_values(), 1.0)],
    )  # fmt: skip
    assert [(e.time, e.is_epoch) for e in events] == [(1.0, False), (1.5, False), (2.0, True),
                                                       (3.0, True)]  # fmt: skip
    assert events[0].history.early == dead and events[0].history.current_epoch() == 1
    claims = simulate(events, build_indicators({"enabled": ["LAR1", "PLC1"]}), GuardSettings(),
                      {8: 9.0})  # fmt: skip
    assert claims[8].indicator == "LAR1" and claims[8].epoch == 1
    assert claims[8].epoch_count == 0 and claims[8].saved == 8.0
    late = simulate(events[2:], build_indicators({"enabled": ["LAR1"]}), GuardSettings(), {})
    assert late == {}  # the record of epoch 1 is not judged again after it
