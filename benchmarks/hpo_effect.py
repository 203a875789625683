"""The paper's experiment (section 4) at this machine's scale: does diagnosis pay off?

For every cell (task, HPO method, seed) runs the real ``bttackler compare --task ... --json``:
the arms one after another with the same seed, budget and workers -- ``baseline`` (traced,
never terminated), ``bttackler`` (the seven indicators act), ``lce`` and ``msr`` (one ETR rule
each, the indicators off) and ``bttackler+msr`` (both). Then, on the baseline run, the
project's replay (``bttackler replay RUN --json``): how many trials of the final top 10 a
problem (non-benign) indicator would have killed (target 0). Every number comes from the
project's metrics code (``bttackler.analysis``: Top10HR, TSBA, which trials count).

Prints ONE table, per task x method x arm, mean ± sample std over the seeds:

* ``trials``: counted trials that ended within the budget (finished, NMG-stopped, or
  terminated for a problem; failed and stopped ones do not count) -- Table 3's last column;
* ``Top10HR``: share of the top 10 of (arm ∪ baseline of the same seed) from the arm;
* ``TSBA``: (T_baseline - T_arm) / T_baseline, where T is the time to the baseline's best
  value; averaged over the seeds where the arm reached it (``n/3 reached``);
* ``kills``: terminated trials per indicator or rule (mean per run);

and per baseline row: ``top10 killed`` (replay, summed over seeds, target 0) and ``bad time``:
the share of all trial time (slot-seconds of ended and budget-stopped trials) spent in *bad*
trials -- those that failed, ended with a non-finite objective, or counted with a value worse
than the median counted value of their run. That share bounds what any termination rule can
save. Then the mean over tasks, methods and seeds per arm, and the targets: bttackler's mean
Top10HR >= 75% and mean TSBA >= 45%, and bttackler's mean Top10HR above both ETR arms' for
every method.

The full grid (the default of this script): methods random,tpe x tasks digits (with
search_spaces/digits-wide.yaml), fashionmlp, diabetesmlp x seeds 0,1,2 x 5 arms x 60 s =
90 runs, about 105 minutes on two cores (each run adds 10-20 s of start-up and shut-down to
its budget). ``make bench-hpo`` runs the subset random,tpe x fashionmlp,diabetesmlp x 3 seeds x
5 arms = 60 runs, about 70-80 minutes. Add ``--methods random,tpe,gp,smac`` for the paper's
four methods.

Everything goes to --results-dir: the runs (``TASK-METHOD-sSEED-ARM``), each compare's log,
and one JSON per cell under ``cells/`` (the compare document, the replay, the bad-trial
numbers). ``--from DIR`` re-prints the table from those files without running anything; a
run into an existing --results-dir reuses the cells already there.

Usage: python benchmarks/hpo_effect.py [--methods random,tpe] [--tasks digits:SPACE,fashionmlp]
       [--seeds 3 | --seeds 0,4 | --seeds 7,] [--arms baseline,bttackler,...] [--budget 60s]
       [--workers 2] [--results-dir DIR] | --from DIR
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import ROOT
from hpo_effect_tables import ARMS, print_table

from bttackler.analysis.metrics import counted_value, load_run
from bttackler.core.objective import CountRule, is_better
from bttackler.core.trial_state import TrialState

DEFAULT_ARMS = ARMS[:7]
DEFAULT_TASKS = "digits:search_spaces/digits-wide.yaml,fashionmlp,diabetesmlp"


# ---------------------------------------------------------------- the grid
def parse_tasks(text: str) -> list[tuple[str, str, str | None]]:
    """``TASK[:SPACE]`` items -> (label, task, space); the label is the space file's stem."""
    out = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        task, _, space = item.partition(":")
        out.append((Path(space).stem if space else task, task, space or None))
    return out


def parse_seeds(text: str) -> list[int]:
    """A count or a list: ``3`` -> 0, 1, 2; ``0,4`` -> 0, 4; ``7,`` -> 7 alone."""
    try:
        if "," not in text:
            count = int(text)
            if count < 1:
                raise ValueError
            return list(range(count))
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        raise SystemExit(f"--seeds {text}: a count >= 1 (3: seeds 0,1,2) or a list (0,4; one: 7,)")
    return seeds


def run_cell(args: argparse.Namespace, label: str, task: str, space: str | None,
             method: str, seed: int) -> dict[str, Any] | None:  # fmt: skip
    """One compare of the arms plus the baseline's replay; the cell's JSON is saved."""
    name = f"{label}-{method}-s{seed}"
    path = args.results_dir / "cells" / f"{name}.json"
    if path.is_file():
        print(f"{name}: reusing {path}", flush=True)
        return json.loads(path.read_text())
    cmd = [sys.executable, "-m", "bttackler.cli", "compare", "--task", task, "--method", method,
           "--budget", args.budget, "--arms", ",".join(args.arms), "--workers",
           str(args.workers), "--seed", str(seed), "--results-dir", str(args.results_dir),
           "--name", name, "--json"]  # fmt: skip
    if space:
        cmd += ["--space", str((ROOT / space).resolve())]
    log = args.results_dir / f"{name}.log"
    start = time.monotonic()
    print(f"{name}: running {', '.join(args.arms)} x {args.budget} ...", flush=True)
    with log.open("w") as err:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
    if out.returncode != 0:
        tail = log.read_text().strip().splitlines()[-5:]
        print(f"{name}: compare failed (exit {out.returncode}), see {log}:", *tail, sep="\n  ")
        return None
    doc = json.loads(out.stdout)
    baseline_dir = Path(doc["runs"][0]["path"])
    cell = {
        "task": label, "task_ref": task, "space": space, "method": method, "seed": seed,
        "budget": args.budget, "workers": args.workers, "arms": list(args.arms),
        "seconds": time.monotonic() - start, "compare": doc,
        "replay": replay_summary(baseline_dir), "bad": bad_trials(baseline_dir),
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cell, indent=1, allow_nan=True))
    print(f"{name}: done in {cell['seconds']:.0f}s", flush=True)
    return cell


def replay_summary(run_dir: Path) -> dict[str, Any]:
    """``bttackler replay RUN --json``: the final top 10 and the trials of it that a problem
    (non-benign) indicator would have killed, all indicators together and per indicator."""
    out = subprocess.run([sys.executable, "-m", "bttackler.cli", "replay", str(run_dir), "--json"],
                         capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["replay failed"])[-1]}
    doc = json.loads(out.stdout)
    rows = {r["indicator"]: r for r in doc["indicators"]}
    combined = rows.get("all", {})
    return {
        "top10": doc["top10"],
        "killed_top10": list(combined.get("false_alarms", [])),
        "by_indicator": {
            k: r["false_alarms"] for k, r in rows.items() if k != "all" and r["false_alarms"]
        },  # fmt: skip
        "claimed": combined.get("claimed"),
    }


def bad_trials(run_dir: Path) -> dict[str, Any]:
    """The baseline's bad trials and their share of all trial time (module docstring).

    Values and which trials count are the project's (:func:`counted_value`); the budget cut
    does not apply here, every ended trial is looked at.
    """
    run = load_run(run_dir)
    mode = run.mode
    rows = [r for r in run.trials if r.started is not None and r.ended is not None]
    values = {r.id: counted_value(r, CountRule.LAST) for r in rows}  # the fair rule
    counted = sorted(v for v in values.values() if v is not None)
    median = statistics.median(counted) if counted else None
    total = bad_time = 0.0
    n_bad = n_judged = 0
    for r in rows:
        duration = float(r.ended) - float(r.started)  # type: ignore[arg-type]
        total += duration
        if r.state in (TrialState.STOPPED.value, TrialState.INTERRUPTED.value):
            continue  # cut short by the budget: its final value is unknown
        n_judged += 1
        value = values[r.id]
        bad = value is None or (median is not None and is_better(median, value, mode))
        if bad:
            n_bad += 1
            bad_time += duration
    return {"trials": n_judged, "bad": n_bad, "median": median, "trial_seconds": total,
            "bad_seconds": bad_time, "share": bad_time / total if total else None}  # fmt: skip


def load_cells(directory: Path) -> list[dict[str, Any]]:
    files = sorted((directory / "cells").glob("*.json"))
    if not files:
        raise SystemExit(f"no cells/*.json in {directory}")
    cells = [json.loads(f.read_text()) for f in files]
    cells.sort(key=lambda c: (c["task"], c["method"], c["seed"]))
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="random,tpe")
    parser.add_argument("--tasks", default=DEFAULT_TASKS, help="TASK[:SPACE],... [%(default)s]")
    parser.add_argument("--seeds", default="3", help="a count (3: 0,1,2) or a list (0,4; 7,)")
    parser.add_argument("--arms", default=",".join(DEFAULT_ARMS),
                        help=f"baseline first; known: {', '.join(ARMS)}")  # fmt: skip
    parser.add_argument("--budget", default="60s", help="wall-clock budget of every run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--results-dir", type=Path, help="[default: results/bench-hpo-<time>]")
    parser.add_argument(
        "--from", dest="from_dir", type=Path, help="re-print an earlier run's table"
    )
    args = parser.parse_args()
    if args.from_dir is not None:
        print(f"hpo effect: cells of {args.from_dir}")
        met = print_table(load_cells(args.from_dir))
        raise SystemExit(0 if met else 1)
    args.arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    if not args.arms or args.arms[0] != "baseline":
        raise SystemExit("--arms must start with baseline")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    tasks = parse_tasks(args.tasks)
    seeds = parse_seeds(args.seeds)
    if args.results_dir is None:
        args.results_dir = ROOT / "results" / time.strftime("bench-hpo-%Y%m%d-%H%M%S")
    args.results_dir = args.results_dir.resolve()
    args.results_dir.mkdir(parents=True, exist_ok=True)
    n_runs = len(tasks) * len(methods) * len(seeds) * len(args.arms)
    print(f"hpo effect: {len(tasks)} task(s) x {len(methods)} method(s) x {len(seeds)} seed(s) "
          f"x {len(args.arms)} arms = {n_runs} runs of {args.budget}, {args.workers} workers, "
          f"in {args.results_dir}")  # fmt: skip
    cells, failed = [], 0
    for label, task, space in tasks:
        for method in methods:
            for seed in seeds:
                cell = run_cell(args, label, task, space, method, seed)
                if cell is None:
                    failed += 1
                else:
                    cells.append(cell)
    if cells:
        print_table(cells)
        print(f"\nre-print: python benchmarks/hpo_effect.py --from {args.results_dir}")
    if failed:
        raise SystemExit(f"{failed} cell(s) failed")


if __name__ == "__main__":
    main()
