"""Slot turnaround: time from a trial's end to the next trial's first report on the same slot.

Runs the real `bttackler run` with a no-op task (one report, then return) on one CPU slot and
reads the times from the run's store. Target: median <= 0.2 s.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from _common import describe, run_cli

NOOP_TASK = """
OBJECTIVE = "score"
MODE = "max"
MAX_EPOCHS = 1
DEFAULT_SPACE = "space.yaml"

def run(params, trial):
    trial.report(0, score=float(params["x"]))
"""


def main(trials: int = 60) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "noop.py").write_text(NOOP_TASK)
        (tmp_path / "space.yaml").write_text("x: {_type: uniform, _value: [0, 1]}\n")
        run_cli(
            "run", "--task", str(tmp_path / "noop.py"), "--method", "random", "--budget", "5m",
            "--max-trials", str(trials), "--workers", "1", "--results-dir", str(tmp_path / "r"),
            "--name", "turnaround", "--plain", "--no-trace",
        )  # fmt: skip
        db = sqlite3.connect(tmp_path / "r" / "turnaround" / "experiment.db")
        ended = dict(db.execute("SELECT id, ended FROM trials WHERE slot = 0"))
        first_report = dict(db.execute("SELECT trial_id, MIN(time) FROM epochs GROUP BY trial_id"))
        started = dict(db.execute("SELECT id, started FROM trials WHERE slot = 0"))
    ids = sorted(ended)
    gaps = [first_report[b] - ended[a] for a, b in zip(ids, ids[1:]) if b in first_report]
    launch = [first_report[i] - started[i] for i in ids if i in first_report]
    print(f"slot turnaround with a no-op task, {len(ids)} trials on one slot")
    describe("end of trial -> next trial's first report", gaps, target=0.2)
    describe("(of which) launch -> first report", launch)


if __name__ == "__main__":
    main()
