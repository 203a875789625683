"""The Ray backend against the local one, side by side in one run on this machine.

For each backend, with the real `bttackler run`:

* slot turnaround: a no-op task (one report, then return), 40 trials on one slot; the time
  from a trial's end to the next trial's first report (target locally: median <= 0.2 s);
* kill latency: a real run whose trials all trip PLC (tests' diagnosis task, learning rate
  1e-8): from the epoch record that triggered the verdict to the trial recorded as gone
  (the worker's EXIT record read by the driver's monitor);
* ring-to-monitor lag: from a record's write in the trial to its read by the driver's
  monitor, mean and max over every record of the kill-latency run (the store's
  ``record_lag`` meta);
* throughput: trials ended in the same budget on the default task (digits, random, 2
  workers), per seed; the backends alternate which goes first. Target: ray >= 0.9 x local.

``--backend ray`` here starts a single-node Ray inside each run (no address), as a user
without a cluster would; the Ray start-up (seconds) happens before the budget's clock starts.

Usage: python benchmarks/ray_backend.py [--budget 60s] [--seeds 2]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
from pathlib import Path

from _common import ROOT, describe, run_cli
from slot_turnaround import NOOP_TASK

BACKENDS = {"local": [], "ray": ["--backend", "ray"]}


def turnaround(tmp: Path, backend: list[str], trials: int = 40) -> list[float]:
    (tmp / "noop.py").write_text(NOOP_TASK)
    (tmp / "space.yaml").write_text("x: {_type: uniform, _value: [0, 1]}\n")
    run_cli("run", "--task", str(tmp / "noop.py"), "--method", "random", "--budget", "5m",
            "--max-trials", str(trials), "--workers", "1", "--results-dir", str(tmp),
            "--name", "turnaround", "--plain", "--no-trace", *backend)  # fmt: skip
    db = sqlite3.connect(tmp / "turnaround" / "experiment.db")
    ended = dict(db.execute("SELECT id, ended FROM trials"))
    first = dict(db.execute("SELECT trial_id, MIN(time) FROM epochs GROUP BY trial_id"))
    ids = sorted(ended)
    return [first[b] - ended[a] for a, b in zip(ids, ids[1:]) if b in first]


def kills_and_lag(tmp: Path, backend: list[str]) -> tuple[list[float], dict[str, float]]:
    task = ROOT / "tests" / "fixtures" / "diagnosis_task.py"
    run_cli("run", "--task", str(task), "--method", "random", "--budget", "60s",
            "--max-trials", "8", "--workers", "2", "--results-dir", str(tmp), "--name", "kills",
            "--plain", "--task-opt", "behaviour=frozen", *backend)  # fmt: skip
    db = sqlite3.connect(tmp / "kills" / "experiment.db")
    kills = [r[0] for r in db.execute(
        "SELECT t.ended - e.time FROM trials t JOIN epochs e ON e.trial_id = t.id "
        "AND e.epoch = t.verdict_epoch - 1 WHERE t.state = 'terminated'")]  # fmt: skip
    (lag,) = db.execute("SELECT value FROM meta WHERE key = 'record_lag'").fetchone()
    return kills, json.loads(lag)


def throughput(tmp: Path, backend: list[str], seed: int, budget: str) -> int:
    name = f"digits-s{seed}"
    run_cli("run", "--task", "digits", "--method", "random", "--budget", budget, "--workers",
            "2", "--seed", str(seed), "--results-dir", str(tmp), "--name", name, "--plain",
            *backend)  # fmt: skip
    db = sqlite3.connect(tmp / name / "experiment.db")
    (ended,) = db.execute(
        "SELECT COUNT(*) FROM trials WHERE state IN ('finished', 'terminated', 'failed')"
    ).fetchone()
    return int(ended)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="60s", help="budget of each throughput run")
    parser.add_argument("--seeds", type=int, default=2, help="throughput runs per backend")
    args = parser.parse_args()
    ended: dict[str, list[int]] = {name: [] for name in BACKENDS}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for name, flags in BACKENDS.items():
            (tmp / name).mkdir()
            print(f"--- {name}")
            describe("slot turnaround (end -> next first report)", turnaround(tmp / name, flags),
                     target=0.2)  # fmt: skip
            kills, lag = kills_and_lag(tmp / name, flags)
            describe("verdict's epoch record -> trial gone", kills, target=0.5)
            print(f"ring -> monitor lag: mean {lag['mean'] * 1000:.1f} ms, "
                  f"max {lag['max'] * 1000:.1f} ms over {lag['records']} records")  # fmt: skip
        for seed in range(args.seeds):
            order = list(BACKENDS) if seed % 2 == 0 else list(reversed(BACKENDS))
            for name in order:
                ended[name].append(throughput(tmp / name, BACKENDS[name], seed, args.budget))
    print(f"--- trials ended in {args.budget} on digits (random, 2 workers), per seed")
    for name, counts in ended.items():
        print(f"{name:6} {counts}  mean {statistics.mean(counts):.1f}")
    ratio = statistics.mean(ended["ray"]) / statistics.mean(ended["local"])
    print(f"ray / local = {ratio:.3f}  (target >= 0.9: {'OK' if ratio >= 0.9 else 'MISSED'})")


if __name__ == "__main__":
    main()
