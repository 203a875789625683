"""The paper's experiment scaled to this machine: baseline vs +BTTackler vs +ETR per HPO method.

For each method runs the real ``bttackler compare --json`` (the three arms one after another,
same seed, workers and budget) on the offline default task and prints the paper's figures:
Top1, Top10 mean and Top10HR vs the baseline (Table 2), trials finished by 1/6, 1/2 and all
of the budget with the increase ratio (Table 3), the baseline's time to its best, the arm's
time to reach it and TSBA (Table 4), and terminations per indicator (Table 5). Ends with one
line per arm over the methods. The defaults (4 methods x 3 arms x 150 s) take 30-35 min:
each arm adds about 20 s of start-up and shut-down to its budget on two cores.

The runs stay in --results-dir (one ``METHOD-ARM`` run each, and ``METHOD.log`` with the
compare's log) for ``bttackler report`` or ``bttackler replay`` later.

Usage: python benchmarks/hpo_effect.py [--methods random,tpe,gp,smac] [--budget 150s]
       [--workers 2] [--seed 0] [--results-dir DIR] [--task digits]
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

ARMS = ("baseline", "bttackler", "etr")


def run_method(args: argparse.Namespace, method: str) -> dict[str, Any] | None:
    """One ``compare`` of the three arms; its log goes to ``DIR/METHOD.log``."""
    cmd = [sys.executable, "-m", "bttackler.cli", "compare", "--task", args.task,
           "--method", method, "--budget", args.budget, "--arms", ",".join(ARMS),
           "--workers", str(args.workers), "--seed", str(args.seed),
           "--results-dir", str(args.results_dir), "--name", method, "--json"]  # fmt: skip
    log = args.results_dir / f"{method}.log"
    with log.open("w") as err:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
    if out.returncode != 0:
        tail = log.read_text().strip().splitlines()[-5:]
        print(f"{method}: compare failed (exit {out.returncode}), see {log}:", *tail, sep="\n  ")
        return None
    return json.loads(out.stdout)


def num(spread: dict[str, Any] | None, fmt: str = "{:.4g}") -> str:
    """The value of a one-repeat spread from the report, ``-`` when there is none."""
    return "-" if spread is None or spread["mean"] is None else fmt.format(spread["mean"])


def print_method(doc: dict[str, Any]) -> None:
    t = doc["tables"]
    t4 = {row["arm"]: row for row in t["table4"]}
    t5 = {row["arm"]: row["claimed"] for row in t["table5"]}
    print(
        f"{'arm':<10} {'Top1':>7} {'Top10':>7} {'Top10HR':>7} | trials by 1/6, 1/2, all of "
        "budget (increase) | baseline time to best / arm time / TSBA | terminations"
    )
    for row2, row3 in zip(t["table2"], t["table3"]):
        arm = row2["arm"]
        trials = []
        for p in row3["points"]:
            text = num(p["trials"])
            if p["increase"] is not None:
                text += f" ({num(p['increase'], '{:+.0f}%')})"
            trials.append(text)
        tsba = "-"
        if arm in t4:
            r = t4[arm]
            reached = r["tsba"]["mean"] is not None
            tsba = f"{num(r['baseline_time'], '{:.1f}s')} / {num(r['arm_time'], '{:.1f}s')} / "
            tsba += num(r["tsba"], "{:+.1f}%") if reached else r["repeats"][0]["status"]
        kills = " ".join(f"{k}:{num(v)}" for k, v in t5.get(arm, {}).items() if v["mean"])
        print(
            f"{arm:<10} {num(row2['top1']):>7} {num(row2['top10']):>7} "
            f"{num(row2['top10hr'], '{:.0f}%'):>7} | {', '.join(trials)} | {tsba} | "
            f"{kills or '-'}"
        )
    for w in doc["warnings"]:
        print(f"  warning: {w}")


def mean_of(values: list[float]) -> str:
    return f"{statistics.fmean(values):.1f}%" if values else "-"


def print_summary(docs: dict[str, dict[str, Any]]) -> None:
    """Per arm over the methods: mean Top10HR, mean trials increase, mean TSBA where reached."""
    print(f"\nsummary over {len(docs)} method(s): {', '.join(docs)}")
    for arm in ARMS[1:]:
        hr, more, tsba, missed = [], [], [], 0
        for doc in docs.values():
            t = doc["tables"]
            for row in t["table2"]:
                if row["arm"] == arm and row["top10hr"] and row["top10hr"]["mean"] is not None:
                    hr.append(row["top10hr"]["mean"])
            for row in t["table3"]:
                increase = row["points"][-1]["increase"] if row["arm"] == arm else None
                if increase and increase["mean"] is not None:
                    more.append(increase["mean"])
            for row in t["table4"]:
                if row["arm"] == arm:
                    if row["tsba"]["mean"] is None:
                        missed += 1
                    else:
                        tsba.append(row["tsba"]["mean"])
        print(
            f"{arm:<10} mean Top10HR {mean_of(hr)}  mean trials increase {mean_of(more)}  "
            f"mean TSBA {mean_of(tsba)} (reached in {len(tsba)} of {len(tsba) + missed})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="random,tpe,gp,smac")
    parser.add_argument("--budget", default="150s", help="wall-clock budget of every arm")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results-dir", type=Path, help="[default: results/bench-hpo-<time>]")
    parser.add_argument("--task", default="digits")
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.results_dir is None:
        args.results_dir = ROOT / "results" / time.strftime("bench-hpo-%Y%m%d-%H%M%S")
    args.results_dir = args.results_dir.resolve()
    args.results_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"hpo effect: task {args.task}, {len(methods)} method(s) x {len(ARMS)} arms x "
        f"{args.budget}, {args.workers} workers, seed {args.seed}, runs in {args.results_dir}"
    )
    docs = {}
    for method in methods:
        print(f"\n{method}: running {', '.join(ARMS)} ...", flush=True)
        start = time.monotonic()
        doc = run_method(args, method)
        if doc is None:
            continue
        print(
            f"{method}: done in {time.monotonic() - start:.0f}s ({doc['objective']}, {doc['mode']})"
        )
        print_method(doc)
        docs[method] = doc
    if docs:
        print_summary(docs)
    if len(docs) < len(methods):
        raise SystemExit(f"{len(methods) - len(docs)} method(s) failed")


if __name__ == "__main__":
    main()
