"""``bttackler simulate`` end to end: a real baseline run of the default task is the pool."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.slow  # a real run


def bt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bttackler.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=180)  # fmt: skip


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("pool")
    out = bt("run", "--task", "digits", "--space", "search_spaces/digits-wide.yaml",
             "--method", "random", "--budget", "90s", "--max-trials", "8", "--workers", "2",
             "--no-diagnosis", "--task-opt", "epochs=3", "--results-dir", str(tmp),
             "--name", "base", "--plain")  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return tmp / "base"


def test_simulate_every_arm_over_seeds_as_json(pool: Path) -> None:
    out = bt("simulate", str(pool), "--budget", "30s", "--workers", "2", "--seeds", "6",
             "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["pool_trials"] == 8 and doc["seeds"] == 6 and doc["method"] == "random"
    arms = {a["arm"]: a for a in doc["arms"]}
    assert list(arms) == ["baseline", "bttackler", "lce", "msr", "bttackler+msr", "asha",
                          "bttackler+asha"]  # fmt: skip
    assert arms["baseline"]["top10hr"] is None
    assert arms["baseline"]["trials"]["n"] == 6 and arms["baseline"]["trials"]["iqm"] > 0
    hr = arms["bttackler"]["top10hr"]
    assert hr["n"] == 6 and hr["low"] <= hr["iqm"] <= hr["high"]


def test_simulate_with_a_real_model_based_method_a_table_and_a_figure(
    pool: Path, tmp_path: Path
) -> None:
    figure = tmp_path / "best.png"
    out = bt("simulate", str(pool), "--method", "tpe", "--arms", "bttackler", "--budget",
             "2m", "--seeds", "3", "--figure", str(figure))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Top10HR" in out.stdout and "bttackler" in out.stdout
    assert figure.read_bytes()[:4] == b"\x89PNG"
    assert "ran more than once" in out.stdout  # 2 minutes of a pool of 8 trials


def test_simulate_bad_input_is_one_line(pool: Path, tmp_path: Path) -> None:
    out = bt("simulate", str(tmp_path), "--seeds", "2")
    assert out.returncode == 2 and out.stderr.startswith("error:") and "Traceback" not in out.stderr
    out = bt("simulate", str(pool), "--arms", "bttackler,magic")
    assert out.returncode == 2 and "unknown arm 'magic'" in out.stderr


def test_calibrate_writes_thresholds_the_other_commands_read(pool: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "mine.toml"
    out = bt("calibrate", str(pool), "--budget", "30s", "--seeds", "2", "--out", str(out_file))
    assert out.returncode == 0, out.stderr
    assert out_file.is_file() and "simulated Top10HR" in out_file.read_text()
    again = bt("calibrate", str(pool), "--out", str(out_file))
    assert again.returncode == 2 and "exists" in again.stderr  # nothing overwritten
    replayed = bt("replay", str(pool), "--config", str(out_file), "--json")
    assert replayed.returncode == 0, replayed.stderr
