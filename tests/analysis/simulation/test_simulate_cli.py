"""``bttackler simulate`` end to end: a real baseline run of the default task is the pool."""

from __future__ import annotations

import json
import re
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


def test_a_model_based_method_maps_onto_unused_configurations_first(pool: Path) -> None:
    def run(mapping: str) -> dict:
        out = bt("simulate", str(pool), "--method", "tpe", "--arms", "baseline", "--budget",
                 "1m", "--seeds", "2", "--mapping", mapping, "--json")  # fmt: skip
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["mapping"] == mapping
        return doc["arms"][0]

    unused, nearest = run("unused"), run("nearest")
    # every configuration of the pool of 8 runs once before any runs again
    assert unused["started"] > 8 and unused["repeats"] == unused["started"] - 8
    assert nearest["repeats"] >= unused["repeats"]
    out = bt("simulate", str(pool), "--mapping", "farthest")
    assert out.returncode == 2 and "farthest" in out.stderr


def test_simulate_at_a_measured_or_given_pace(pool: Path) -> None:
    def baseline(*args: str) -> dict:
        out = bt("simulate", str(pool), "--arms", "baseline", "--budget", "20s", "--seeds",
                 "4", "--json", *args)  # fmt: skip
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    own = baseline("--pace-of", str(pool))  # the pool against itself: its own pace
    startup, epochs = own["pace"]["measured"]["startup"], own["pace"]["measured"]["epochs"]
    assert startup["trials"] == 8 and startup["epochs"] == 8 and epochs["epochs"] == 16
    assert 0.9 < startup["factor"] < 1.1 and 0.9 < epochs["factor"] < 1.1
    assert (own["pace"]["startup"], own["pace"]["epochs"]) == (startup["factor"], epochs["factor"])
    plain, fast = baseline(), baseline("--pace", "0.25")
    assert plain["pace"] == {"startup": 1.0, "epochs": 1.0, "measured_from": []}
    assert fast["arms"][0]["started"] > plain["arms"][0]["started"]  # 4x faster: more trials
    table = bt("simulate", str(pool), "--arms", "baseline", "--budget", "20s", "--seeds", "2",
               "--pace-of", str(pool))  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert re.search(r"pace of the pool's durations: start-up [01]\.\d{3} \[[01]\.\d{3}, "
                     r"[01]\.\d{3}\], epochs [01]\.\d{3} .*, measured on 8 trials \(24 epochs\)",
                     table.stdout)  # fmt: skip
    both = bt("simulate", str(pool), "--pace", "0.5", "--pace-of", str(pool))
    assert both.returncode == 2 and "not both" in both.stderr
    bad = bt("simulate", str(pool), "--pace", "fast")
    assert bad.returncode == 2 and "--pace" in bad.stderr and "Traceback" not in bad.stderr


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
