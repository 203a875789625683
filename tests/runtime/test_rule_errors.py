"""A custom indicator that raises on every epoch is said once, not swallowed: the run warns in
its log and its stored warnings, counts every error, and goes on judging with the others."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAULT_TASK = str(ROOT / "tests" / "fixtures" / "fault_task.py")

pytestmark = pytest.mark.slow  # a real run


def test_a_raising_custom_indicator_is_warned_of_once_and_counted(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def broken(history):\n    raise ValueError('oops')\n")
    (tmp_path / "cfg.toml").write_text(
        f'[indicators.custom]\nBROKEN = "{tmp_path / "broken.py"}:broken"\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "bttackler.cli", "run", "--task", FAULT_TASK, "--method",
         "random", "--budget", "60s", "--max-trials", "3", "--results-dir", str(tmp_path),
         "--name", "r", "--plain", "--config", str(tmp_path / "cfg.toml"),
         "--task-opt", "seconds=0.1"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    said = [line for line in out.stdout.splitlines() if "BROKEN raised" in line]
    assert said and "ValueError: oops" in said[0]
    with sqlite3.connect(tmp_path / "r" / "experiment.db") as con:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    warnings = json.loads(meta["warnings"])
    assert sum("BROKEN raised" in w for w in warnings) == 1  # once, not once per epoch
    assert json.loads(meta["diagnosis_errors"]) >= 3  # every epoch of every trial raised
    listed = subprocess.run(
        [sys.executable, "-m", "bttackler.cli", "trials", str(tmp_path / "r"), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    for trial in json.loads(listed.stdout)["trials"]:  # named for every trial it failed on
        assert trial["rule_errors"] == [{"rule": "BROKEN", "error": "ValueError: oops"}]
