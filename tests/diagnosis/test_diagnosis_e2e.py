"""End-to-end diagnosis: real small trainings with real pathologies, stopped by the real CLI.

Each behaviour of tests/fixtures/diagnosis_task.py really produces its symptom in training
(see that file); `bttackler run` with the default indicator settings of bttackler.toml must
terminate it with the expected indicator, and let the healthy one run to its last epoch.
One trial per run, so the guard (which needs 10 trials at an epoch count) never applies.

The runs are independent processes; they are started two at a time (one per CPU core) by a
module fixture so the whole file takes well under 90 s, and each test checks one run.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TASK = ROOT / "tests" / "fixtures" / "diagnosis_task.py"
BTTACKLER = [sys.executable, "-m", "bttackler.cli"]
MAX_EPOCHS = 12  # diagnosis_task.MAX_EPOCHS (not imported: that would import torch here)

pytestmark = pytest.mark.slow

# behaviour -> (indicator, what the rule starts with, epoch count at which it fires).
# nan: the loss of epoch 1 is already NaN; the probe checks every batch's gradients, so its
# NaN-gradient alarm usually stops the trial within epoch 1, before that epoch's record.
EXPECTED = {
    "nan": ("AGV", ("non-finite gradient", "train_loss is nan"), 1),
    # x25 amplification per layer: EAG at epoch 1 (TWU, steps tiny beside big weights, would
    # need a second epoch to confirm)
    "exploding": ("EAG", ("median gradient ratio",), 1),
    # ERG (ratios between layers) sees it at epoch 1; VGM (absolute size) and TWU (tiny steps)
    # want two epochs of evidence
    "vanishing": ("ERG", ("median gradient ratio",), 1),
    # lr 1e-8: TWU sees two epochs of tiny steps at epoch 2 (PLC would see the flat loss at 3)
    "frozen": ("TWU", ("median weight update per step",), 2),
    "dead_relu": ("LAR", ("layer 3 inactive ratio",), 5),
    "oscillation": ("ULC", ("loss fluctuation",), 7),
    "converge": ("NMG", ("best loss of last 5 epochs",), 8),
}
BEHAVIOURS = ["healthy", *EXPECTED]


def bt(*args: str, timeout: float = 150) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BTTACKLER, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def run_behaviour(results: Path, behaviour: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = bt(
        "run", "--task", str(TASK), "--method", "random", "--budget", "60s",
        "--max-trials", "1", "--results-dir", str(results), "--name", behaviour, "--plain",
        "--task-opt", f"behaviour={behaviour}",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    listing = bt("trials", str(results / behaviour), "--json")
    assert listing.returncode == 0, listing.stderr
    return out, {**json.loads(listing.stdout), "path": str(results / behaviour)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, dict]]:
    results = tmp_path_factory.mktemp("diagnosis")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {b: pool.submit(run_behaviour, results, b) for b in BEHAVIOURS}
        return {b: f.result() for b, f in futures.items()}


def only_trial(doc: dict) -> dict:
    assert len(doc["trials"]) == 1, doc
    return doc["trials"][0]


def test_healthy_task_runs_to_its_last_epoch(runs):
    out, doc = runs["healthy"]
    trial = only_trial(doc)
    assert trial["state"] == "finished", trial
    assert trial["indicator"] is None and trial["reason"] is None, trial
    assert trial["epochs"] == MAX_EPOCHS
    assert trial["value"] > 0.8  # it really learned
    assert "terminations by indicator" not in out.stdout


@pytest.mark.parametrize("behaviour", list(EXPECTED))
def test_pathology_is_terminated_by_the_expected_indicator(runs, behaviour):
    indicator, rule_starts, fires_at = EXPECTED[behaviour]
    out, doc = runs[behaviour]
    trial = only_trial(doc)
    assert trial["state"] == "terminated", trial
    assert trial["indicator"] in indicator.split("|"), trial
    indicator = trial["indicator"]
    assert trial["rule"].startswith(rule_starts), trial
    assert trial["reason"] == f"{indicator}: {trial['rule']}"
    assert trial["verdict_epoch"] == fires_at  # counted from 1, whatever the task numbers
    # stopped: the trial did not run on to its last epoch (nan: maybe within the first)
    assert fires_at - (behaviour == "nan") <= trial["epochs"] < MAX_EPOCHS, trial
    assert f"terminations by indicator: {indicator} 1" in out.stdout


def test_converged_trial_counts_with_its_last_value(runs):
    """NMG stops a trial like any indicator: its value is the last it reported (paper 3.3)."""
    doc = runs["converge"][1]
    trial = only_trial(doc)
    db = sqlite3.connect(Path(doc["path"]) / "experiment.db")
    (last,) = db.execute("SELECT metrics FROM epochs ORDER BY rowid DESC LIMIT 1").fetchone()
    db.close()
    assert trial["value"] == json.loads(last)["val_acc"]
    assert trial["best_value"] >= trial["value"]


@pytest.mark.parametrize("flag", ["--no-diagnosis", "--no-trace"])
def test_baseline_flags_never_terminate(tmp_path, flag):
    """--no-diagnosis judges and records but never kills; --no-trace records no statistics."""
    out = bt(
        "run", "--task", str(TASK), "--method", "random", "--budget", "60s", "--max-trials", "1",
        "--results-dir", str(tmp_path), "--name", "r", "--plain", "--task-opt",
        "behaviour=frozen", "--task-opt", "epoch_seconds=0", flag,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    trial = only_trial(json.loads(bt("trials", str(tmp_path / "r"), "--json").stdout))
    assert trial["state"] == "finished" and trial["epochs"] == 12
    db = sqlite3.connect(tmp_path / "r" / "experiment.db")
    stats = db.execute("SELECT COUNT(*) FROM layer_stats").fetchone()[0]
    verdicts = db.execute("SELECT indicator, acted FROM verdicts").fetchall()
    if flag == "--no-diagnosis":
        assert stats > 0  # recorded, so the run can be replayed
        assert ("PLC", 0) in verdicts  # judged, not acted on
    else:
        assert stats == 0 and verdicts == []
