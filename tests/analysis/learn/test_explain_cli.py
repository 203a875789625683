"""End to end: a real --no-diagnosis run whose configurations choose their pathology, then
`bttackler explain` names the rule a reader can check against `bttackler trials`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TASK = ROOT / "tests" / "fixtures" / "diagnosis_task.py"
SPACE = ROOT / "tests" / "fixtures" / "behaviour_space.yaml"

pytestmark = pytest.mark.slow


def bt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bttackler.cli", *args], capture_output=True,
                          text=True, timeout=180, cwd=ROOT)  # fmt: skip


def test_explain_names_the_parameter_value_that_breaks_training(tmp_path: Path) -> None:
    out = bt("run", "--task", str(TASK), "--space", str(SPACE), "--method", "random",
             "--no-diagnosis", "--max-trials", "9", "--workers", "2", "--seed", "3",
             "--task-opt", "epoch_seconds=0.02", "--results-dir", str(tmp_path), "--name", "e",
             "--plain")  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    run = tmp_path / "e"
    trials = json.loads(bt("trials", str(run), "--json").stdout)["trials"]
    nan = [t["id"] for t in trials if t["params"]["behaviour"] == "nan"]
    assert nan, "seed 3 draws the nan behaviour"
    doc = json.loads(bt("explain", str(run), "--json").stdout)
    assert doc["trials"] == 9
    assert {doc["trouble_of"][str(i)] for i in nan} == {"AGV"}
    agv = doc["by_indicator"]["AGV"][0]
    assert agv["text"] == f"behaviour = nan -> AGV in {len(nan)} of {len(nan)} trials"
    assert max(doc["importance"]["bad"], key=doc["importance"]["bad"].get) == "behaviour"
    text = bt("explain", str(run))
    assert text.returncode == 0 and "What causes bad trials" in text.stdout
    assert "behaviour = nan -> AGV" in text.stdout
    report = bt("report", str(run))  # report.md has the same section
    assert report.returncode == 0, report.stderr
    section = (run / "report.md").read_text().split("## What causes bad trials")[1]
    assert "behaviour != healthy" in section.split("##")[0]


def test_explain_of_a_folder_that_is_no_run_is_one_line(tmp_path: Path) -> None:
    out = bt("explain", str(tmp_path))
    assert out.returncode == 2 and out.stderr.startswith("error:") and "Traceback" not in out.stderr
