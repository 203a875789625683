"""Record pools for ``bttackler simulate``: random search with ``--no-diagnosis`` (every trial
runs to its end), one run per task into ``results/pools/<name>`` (cached: a pool whose run
completed is kept; one left half-way is recorded again). ``make pools`` calls this.

    python benchmarks/record_pools.py [--budget 15m] [--tasks digits-wide,diabetesmlp,fashionmlp]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POOLS = {  # name -> the run's task arguments
    "digits-wide": ["--task", "digits", "--space", "search_spaces/digits-wide.yaml"],
    "diabetesmlp": ["--task", "diabetesmlp"],
    "fashionmlp": ["--task", "fashionmlp"],
}


def completed(run: Path) -> bool:
    db = run / "experiment.db"
    if not db.is_file():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            rows = con.execute("SELECT status FROM sessions ORDER BY id").fetchall()
    except sqlite3.Error:
        return False
    return bool(rows) and rows[-1][0] == "completed"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="15m")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", default="digits-wide,diabetesmlp,fashionmlp")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "pools")
    args = parser.parse_args()
    names = [n for n in args.tasks.split(",") if n]
    unknown = [n for n in names if n not in POOLS]
    if unknown:
        parser.error(f"unknown pool(s) {', '.join(unknown)}; choose from {', '.join(POOLS)}")
    for name in names:
        run = args.out / name
        if completed(run):
            print(f"{name}: cached in {run}")
            continue
        if run.exists():
            shutil.rmtree(run)
        cmd = [sys.executable, "-m", "bttackler.cli", "run", *POOLS[name], "--method", "random",
               "--budget", args.budget, "--workers", str(args.workers), "--no-diagnosis",
               "--seed", "100", "--name", name, "--results-dir", str(args.out), "--plain",
               "--fail-fast", "0"]  # fmt: skip
        print(f"{name}: recording {args.budget} of random search into {run} ...", flush=True)
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0 or not completed(run):
            print(f"{name}: failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
            return 1
        print(f"{name}: {done.stdout.strip().splitlines()[-3] if done.stdout else 'done'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
