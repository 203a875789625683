"""The counting rule (``--count last|best``) through the metrics, the report and the real CLI.

Two runs stored the way the scheduler stores them (the last value as ``value``, the best next
to it): a baseline whose trials all ran to their end, two of them overfitting late, and a
diagnosed arm whose best trial was stopped by NMG after its best epoch. The old rule (NMG-stopped
trials with their best value, all others with their last) made the arm win: its NMG trial
counted 0.96 against the baseline's last values, TSBA 60%. Counting every trial alike, it does
not: by last value the arm never reaches the baseline's 0.80; by best value it does, but against
the baseline's best epochs (0.95), and it loses a Top10HR place to the overfitting trial.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bttackler.analysis import report
from bttackler.analysis.compare import load_arms
from bttackler.core.objective import CountRule
from bttackler.core.store import Store
from bttackler.core.trial_state import TrialState

ROOT = Path(__file__).resolve().parents[2]

# (accuracy per epoch, state, indicator, ended)
BASELINE = [
    ([0.6, 0.90, 0.70], "finished", None, 10.0),  # overfits late: last 0.70, best 0.90
    ([0.5, 0.80, 0.80], "finished", None, 20.0),
    ([0.4, 0.50, 0.55], "finished", None, 30.0),
    ([0.3, 0.40, 0.45], "finished", None, 40.0),
    ([0.2, 0.30, 0.35], "finished", None, 50.0),
    ([0.1, 0.95, 0.20], "finished", None, 55.0),  # overfits badly: last 0.20, best 0.95
]
DIAGNOSED = [
    ([0.6, 0.96, 0.75], "terminated", "NMG", 8.0),  # stopped after its best: last 0.75
    ([0.5, 0.70, 0.78], "finished", None, 15.0),
    ([0.4, 0.60, 0.65], "finished", None, 25.0),
    ([0.3, 0.50, 0.60], "finished", None, 35.0),
    ([0.2, 0.40, 0.50], "finished", None, 45.0),
    ([0.1, 0.30, 0.40], "finished", None, 50.0),
]


def make_run(path: Path, trials: list[tuple[list[float], str, str | None, float]]) -> Path:
    path.mkdir(parents=True)
    store = Store.open(path)
    store.set_meta(task="t", method="random", objective="acc", mode="max", max_epochs=3,
                   budget=60.0, diagnosis=True, etr=None)  # fmt: skip
    store.begin_session(0.0)
    for accs, state, indicator, ended in trials:
        tid = store.add_trial({"x": accs[-1]}, slot=0, started=ended - 3.0)
        for epoch, acc in enumerate(accs):
            store.add_epoch(tid, epoch, ended - 3.0 + epoch, {"acc": acc, "train_loss": 1.0})
        store.update_progress(tid, len(accs), accs[-1], max(accs))
        if indicator:
            store.set_verdict(tid, indicator, "rule", len(accs) - 1)
        store.end_trial(tid, TrialState(state), indicator, ended)
    store.end_session("done")
    store.close()
    return path


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    return make_run(tmp_path / "base", BASELINE), make_run(tmp_path / "btt", DIAGNOSED)


def bt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bttackler.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)  # fmt: skip


def numbers(doc: dict) -> dict:
    t2 = {r["arm"]: r for r in doc["tables"]["table2"]}
    (t4,) = doc["tables"]["table4"]
    return {
        "top1": (t2["base"]["top1"]["mean"], t2["btt"]["top1"]["mean"]),
        "top10hr": t2["btt"]["top10hr"]["mean"],
        "tsba": t4["repeats"][0],
    }


def test_every_trial_of_every_arm_counts_by_the_same_rule(runs):
    arms = load_arms([str(p) for p in runs])
    last = numbers(report.build(arms, CountRule.LAST))
    assert last["top1"] == (0.80, 0.78)  # the NMG trial counts its last 0.75, not 0.96
    assert last["top10hr"] == pytest.approx(60.0)  # the two lowest of 12 are the baseline's
    assert last["tsba"]["status"] == "not reached" and last["tsba"]["baseline_best"] == 0.80
    best = numbers(report.build(arms, CountRule.BEST))
    assert best["top1"] == (0.95, 0.96)
    assert best["top10hr"] == pytest.approx(50.0)  # 0.20 -> 0.95 pushes the arm's 0.40 out
    assert best["tsba"] == {"status": "ok", "tsba": pytest.approx((55 - 8) / 55 * 100),
                            "baseline_best": 0.95, "baseline_time": 55.0,
                            "arm_time": 8.0}  # fmt: skip


def test_the_report_says_which_rule_counted(runs):
    arms = load_arms([str(p) for p in runs])
    for rule in CountRule:
        doc = report.build(arms, rule)
        assert doc["count"] == rule.value
        md = report.markdown(doc)
        assert f"counted by {rule.value} value" in md.splitlines()[2]  # the title line
        assert md.count(f"counted by {rule.value} value") >= 4  # and Tables 2-4


def test_count_flag_through_the_cli(runs):
    base, btt = map(str, runs)
    default = json.loads(bt("compare", base, btt, "--json").stdout)
    assert default["count"] == "last" and numbers(default)["top1"] == (0.80, 0.78)
    out = bt("compare", base, btt, "--json", "--count", "best")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["count"] == "best"
    assert numbers(json.loads(out.stdout))["top1"] == (0.95, 0.96)
    text = " ".join(bt("compare", base, btt, "--count", "best").stdout.split())  # unwrapped
    assert text.count("counted by best value") == 3  # the titles of Tables 2, 3 and 4
    out = bt("report", base, btt, "--json", "--count", "best")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["count"] == "best" and numbers(doc)["tsba"]["status"] == "ok"
    assert "counted by best value" in (runs[0] / "report.md").read_text()
    out = bt("report", base, btt)
    assert "counted by last value" in out.stdout
    assert "counted by last value" in (runs[0] / "report.md").read_text()
    for rule, top in (("last", [2, 1, 3, 4, 5, 6]), ("best", [6, 1, 2, 3, 4, 5])):
        out = bt("replay", base, "--indicators", "NMG", "--json", "--count", rule)
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert (doc["count"], doc["top10"]) == (rule, top)
    text = " ".join(bt("replay", base, "--indicators", "NMG").stdout.split())
    assert "final top 10 (counted by last value): [2, 1, 3, 4, 5, 6]" in text
    out = bt("compare", base, btt, "--count", "first")
    assert out.returncode == 2 and "--count" in out.stderr
