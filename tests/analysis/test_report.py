"""`bttackler report` on small hand-made stores: report.md, the PNG figures, the --json schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bttackler.analysis import report
from bttackler.analysis.metrics import load_run
from bttackler.core.objective import CountRule
from bttackler.core.store import Store
from bttackler.core.trial_state import TrialState

ROOT = Path(__file__).resolve().parents[2]


def make_run(path: Path, trials: list[tuple[str, float, float, str | None]],
             budget: float = 60.0) -> Path:  # fmt: skip
    """A run whose trial k has (state, value, ended, indicator); 3 epochs each."""
    path.mkdir(parents=True)
    store = Store.open(path)
    store.set_meta(task="t", method="random", objective="acc", mode="max", max_epochs=3,
                   budget=budget, diagnosis=True, etr=None)  # fmt: skip
    store.begin_session(0.0)
    for state, value, ended, indicator in trials:
        tid = store.add_trial({"x": value}, slot=0, started=ended - 3.0)
        for e in range(3):
            store.add_epoch(tid, e, ended - 3.0 + e, {"acc": value, "train_loss": 1.0 / (e + 1)})
        store.update_progress(tid, 3, value, value)
        if indicator:
            store.set_verdict(tid, indicator, "rule", 1)
        store.end_trial(tid, TrialState(state), indicator, ended)
    store.end_session("done")
    store.close()
    return path


def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    base = make_run(tmp_path / "base", [("finished", 0.5, 10.0, None),
                                        ("finished", 0.7, 40.0, None),
                                        ("failed", 0.0, 45.0, None)])  # fmt: skip
    btt = make_run(tmp_path / "btt", [("terminated", 0.1, 5.0, "ERG"),
                                      ("finished", 0.8, 12.0, None),
                                      ("terminated", 0.6, 20.0, "NMG")])  # fmt: skip
    return base, btt


def test_report_writes_markdown_figures_and_json(tmp_path):
    base, btt = two_runs(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "bttackler.cli", "report", str(base), str(btt), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) == {"schema", "baseline", "count", "objective", "mode", "warnings", "runs",
                        "tables", "figures", "explain", "report"}  # fmt: skip
    assert doc["count"] == "last"  # the default without --count
    assert doc["baseline"] == "base" and doc["mode"] == "max"
    assert set(doc["figures"]) == set(report.FIGURE_FILES)
    for key, fig in doc["figures"].items():  # only figures with data are drawn
        if key != "top10_over_time":  # fewer than 10 counted trials per run: no curve
            assert (base / fig["file"]).stat().st_size > 1000, key
    assert not (base / doc["figures"]["top10_over_time"]["file"]).exists()
    md = (base / "report.md").read_text()
    for heading in ("Table 2", "Table 3", "Table 4", "Table 5", "Figure 4", "Figure 5",
                    "counted by last value"):  # fmt: skip
        assert heading in md
    t2 = {r["arm"]: r for r in doc["tables"]["table2"]}
    assert t2["btt"]["top10hr"]["mean"] == 60.0  # 0.8 0.6 0.1 of 0.8 0.7 0.6 0.5 0.1
    (t4,) = doc["tables"]["table4"]
    assert t4["repeats"][0] == {"status": "ok", "tsba": 70.0, "baseline_best": 0.7,
                                "baseline_time": 40.0, "arm_time": 12.0}  # fmt: skip
    top10 = {s["run"]: s["points"] for s in doc["figures"]["top10_over_time"]["series"]}
    assert top10["base"] == []  # the curve starts at the 10th counted trial
    assert "No run has 10 counted trials yet" in md
    assert "Best configuration of each run" in md
    hist = {s["run"]: s for s in doc["figures"]["final_objective_histogram"]["series"]}
    btt = hist["btt"]
    assert sum(btt["killed"]) + sum(btt["converged"]) == 2 and sum(btt["finished"]) == 1
    assert len(doc["figures"]["final_objective_histogram"]["bin_edges"]) == 11
    by_ind = {s["run"]: s["counts"] for s in doc["figures"]["terminations_by_indicator"]["series"]}
    assert by_ind == {"base": {}, "btt": {"ERG": 1, "NMG": 1}}


def test_report_of_one_run_has_no_comparison(tmp_path):
    base, _ = two_runs(tmp_path)
    doc = report.write({"base": [load_run(base)]}, base, CountRule.LAST)
    assert doc["baseline"] is None and doc["tables"]["table4"] == []
    assert doc["tables"]["table2"][0]["top10hr"] is None
    md = (base / "report.md").read_text()
    assert "One run: no comparison" in md
    assert "## Table 4" in md and "Needs a baseline" in md  # numbered as the paper, no gap
    assert "increase ratio" not in md


def test_report_of_a_missing_run_is_a_one_line_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bttackler.cli", "report", str(tmp_path / "no")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1
