"""End to end through the real CLI: a layer dead from the start is stopped inside epoch 1.

tests/fixtures/diagnosis_task.py's ``dead_start`` trains an MLP whose last hidden ReLU is
dead from its first batch, 32 batches an epoch. The probe's record after the first 12
batches reaches the monitor, LAR1 judges it and the runner kills the trial before epoch 1
ends: no epoch recorded, verdict epoch 1, a rule that says it came from inside epoch 1.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TASK = ROOT / "tests" / "fixtures" / "diagnosis_task.py"

pytestmark = pytest.mark.slow


def bt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bttackler.cli", *args], capture_output=True, text=True,
        timeout=120, cwd=ROOT,
    )  # fmt: skip


def test_a_layer_dead_from_the_start_is_stopped_inside_epoch_1(tmp_path: Path) -> None:
    out = bt(
        "run", "--task", str(TASK), "--method", "random", "--budget", "60s",
        "--max-trials", "1", "--results-dir", str(tmp_path), "--name", "r", "--plain",
        "--task-opt", "behaviour=dead_start", "--task-opt", "epoch_seconds=0",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    (trial,) = json.loads(bt("trials", str(tmp_path / "r"), "--json").stdout)["trials"]
    assert trial["state"] == "terminated", trial
    assert trial["indicator"] == "LAR1" and trial["verdict_epoch"] == 1, trial
    assert trial["rule"].startswith("inside epoch 1, after 12 batches: layer 3 inactive"), trial
    assert trial["epochs"] == 0  # killed before epoch 1 ended
    db = sqlite3.connect(tmp_path / "r" / "experiment.db")
    ((epoch, layer, evidence),) = db.execute("SELECT epoch, layer, evidence FROM early").fetchall()
    db.close()
    assert (epoch, layer) == (0, "3")
    batches, sampled, dead_ratio = json.loads(evidence)[:3]
    assert batches == 12 and sampled >= 1 and dead_ratio == 1.0
