"""`bttackler compare`: existing runs via the CLI, the arms' configurations, running arms."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bttackler.core.config import run_settings
from bttackler.core.errors import BttacklerError
from bttackler.core.store import Store
from bttackler.core.trial_state import TrialState
from bttackler.runtime.arms import ARMS, arm_config

ROOT = Path(__file__).resolve().parents[2]
FAULT_TASK = str(ROOT / "tests" / "fixtures" / "fault_task.py")


def bt(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bttackler.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout)  # fmt: skip


def make_run(path: Path, trials: list[tuple[str, float, float, str | None]]) -> Path:
    path.mkdir(parents=True)
    store = Store.open(path)
    store.set_meta(task="t", method="tpe", objective="loss", mode="min", max_epochs=3,
                   budget=60.0, diagnosis=True, etr=None)  # fmt: skip
    store.begin_session(0.0)
    for state, value, ended, indicator in trials:
        tid = store.add_trial({}, slot=0, started=0.0)
        store.update_progress(tid, 3, value, value)
        if indicator:
            store.set_verdict(tid, indicator, "rule", 1)
        store.end_trial(tid, TrialState(state), indicator, ended)
    store.close()
    return path


def test_compare_existing_runs_prints_tables_and_json(tmp_path):
    base = make_run(tmp_path / "base", [("finished", 0.3, 20.0, None),
                                        ("finished", 0.2, 50.0, None)])  # fmt: skip
    btt = make_run(tmp_path / "btt", [("terminated", 0.9, 5.0, "ERG"),
                                      ("finished", 0.15, 30.0, None)])  # fmt: skip
    out = bt("compare", str(base), str(btt))
    assert out.returncode == 0, out.stderr
    for title in ("Table 2", "Table 3", "Table 4", "Table 5", "40.0%"):
        assert title in out.stdout, title
    out = bt("compare", str(base), str(btt), "--json")
    doc = json.loads(out.stdout)
    t2 = {r["arm"]: r for r in doc["tables"]["table2"]}
    assert t2["btt"]["top10hr"]["mean"] == 50.0  # min: 0.15 0.2 0.3 0.9
    assert doc["tables"]["table4"][0]["tsba"]["mean"] == pytest.approx(40.0)  # (50 - 30) / 50
    assert not (base / "report.md").exists()  # compare writes nothing
    repeats = bt("compare", f"{base},{base}", f"{btt},{btt}", "--json")
    doc = json.loads(repeats.stdout)
    assert doc["tables"]["table2"][1]["top10hr"] == {"mean": 50.0, "std": 0.0, "n": 2,
                                                     "missing": 0}  # fmt: skip


def test_compare_usage_errors(tmp_path):
    base = make_run(tmp_path / "base", [("finished", 0.3, 20.0, None)])
    for args in ([str(base)], [str(base), str(base), "--task", "digits"],
                 [str(base), str(base), "--space", "s.yaml"], []):  # fmt: skip
        out = bt("compare", *args)
        assert out.returncode == 2 and out.stderr.startswith("error: "), args
    out = bt("compare", "--task", FAULT_TASK, "--arms", "baseline,magic")
    assert out.returncode == 2 and "magic" in out.stderr


def test_arm_configurations():
    base = {"run": {"task": "t", "etr": "msr"}, "diagnosis": {"enabled": True, "guard": True}}
    assert arm_config(base, "baseline", "max")["diagnosis"] == {"enabled": False, "guard": True}
    assert "etr" not in arm_config(base, "baseline", "max")["run"]
    assert "etr" not in arm_config(base, "bttackler", "max")["run"]
    assert arm_config(base, "bttackler", "max")["diagnosis"]["enabled"] is True
    for mode in ("max", "min"):  # both ETR rules for either direction of the objective
        for rule in ("lce", "msr", "asha", "hyperband"):
            config = arm_config(base, rule, mode)
            assert config["run"]["etr"] == rule and config["diagnosis"]["enabled"] is False
        for rule in ("msr", "asha", "hyperband"):
            both = arm_config(base, f"bttackler+{rule}", mode)
            assert both["run"]["etr"] == rule and both["diagnosis"]["enabled"] is True
    # etr: the old alias, the paper's rule per objective direction
    etr = arm_config(base, "etr", "max")
    assert etr["run"]["etr"] == "lce" and etr["diagnosis"]["enabled"] is False
    assert arm_config(base, "etr", "min")["run"]["etr"] == "msr"
    assert base["run"]["etr"] == "msr"  # not modified
    avoid = arm_config(base, "bttackler+avoid", "max")
    assert avoid["run"]["avoid_bad"] is True and avoid["diagnosis"]["enabled"] is True
    assert arm_config(base, "bttackler", "max")["run"]["avoid_bad"] is False
    assert ARMS == ("baseline", "bttackler", "lce", "msr", "bttackler+msr", "asha",
                    "bttackler+asha", "hyperband", "bttackler+hyperband")  # fmt: skip
    with pytest.raises(BttacklerError, match="unknown arm"):
        arm_config(base, "magic", "max")


def test_only_avoid_arms_learn_from_an_earlier_run():
    """[run] avoid_learn_from implies --avoid-bad: in a compare it must reach the +avoid arms
    only, or the baseline would skip configurations too."""
    base = {"run": {"task": "t", "avoid_learn_from": ["/runs/a"]}, "diagnosis": {}}
    for arm in ("baseline", "bttackler", "msr"):
        run = run_settings(arm_config(base, arm, "max"))
        assert not run.avoid_bad and run.avoid_learn_from == ()
    run = run_settings(arm_config(base, "bttackler+avoid", "max"))
    assert run.avoid_bad and run.avoid_learn_from == ("/runs/a",)


def test_arm_names_accept_the_five_arms_and_the_etr_alias():
    from bttackler.cli.analysis_commands import _arm_names

    assert _arm_names("baseline, bttackler,lce,msr,bttackler+msr") == list(ARMS[:5])
    assert _arm_names("baseline,etr") == ["baseline", "etr"]
    with pytest.raises(BttacklerError, match="unknown arm 'btt'"):
        _arm_names("baseline,btt")


@pytest.mark.slow
def test_compare_runs_the_arms_with_the_same_seed(tmp_path):
    out = bt("compare", "--task", FAULT_TASK, "--method", "random", "--budget", "60s",
             "--max-trials", "3", "--seed", "5", "--arms", "baseline,bttackler",
             "--results-dir", str(tmp_path), "--name", "c", "--json", timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(out.stdout)  # the runs' logs went to stderr
    assert [r["arm"] for r in doc["runs"]] == ["baseline", "bttackler"]
    assert [r["diagnosis"] for r in doc["runs"]] == [False, True]
    params = [[t["params"] for t in json.loads(bt("trials", str(tmp_path / f"c-{a}"),
                                                  "--json").stdout)["trials"]]
              for a in ("baseline", "bttackler")]  # fmt: skip
    assert params[0] == params[1]  # same seed, same method: the same configurations
    assert doc["report"] == str(tmp_path / "c-baseline" / "report.md")
    assert (tmp_path / "c-baseline" / "report.md").read_text().startswith("#")


@pytest.mark.slow
def test_compare_asha_arms_on_the_default_task(tmp_path):
    out = bt("compare", "--task", "digits", "--method", "random", "--budget", "60s",
             "--max-trials", "4", "--seed", "1", "--task-opt", "epochs=4",
             "--arms", "baseline,asha,bttackler+asha", "--results-dir", str(tmp_path),
             "--name", "c", "--json", timeout=180)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert [(r["arm"], r["diagnosis"], r["etr"]) for r in doc["runs"]] == [
        ("baseline", False, None), ("asha", False, "asha"), ("bttackler+asha", True, "asha"),
    ]  # fmt: skip
    trials = json.loads(bt("trials", str(tmp_path / "c-asha"), "--json").stdout)["trials"]
    stopped = [t for t in trials if t["state"] == "terminated"]
    # one worker, four trials, rungs at epochs 1 and 4 (the last: no verdict): a trial goes on
    # only when it is the best of those that reached epoch 1 before it
    assert stopped and all(t["reason"].startswith("ASHA: ") for t in stopped)
    assert all("at rung 0 (epoch 1)" in t["reason"] and t["epochs"] == 1 for t in stopped)
    claimed = {row["arm"]: row["claimed"] for row in doc["tables"]["table5"]}
    assert claimed["asha"]["ASHA"]["mean"] == len(stopped)
