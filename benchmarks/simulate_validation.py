"""Does ``bttackler simulate`` predict real searches? Real ``compare`` cells against simulations
from a pool of the same task.

For every cell of a ``benchmarks/hpo_effect.py`` results folder (one task, method and seed:
the five arms run for real), simulates the same method, budget and workers over ``--seeds``
seeds from a pool and checks, per arm, whether the real run
lands where single simulated searches land (the 2.5-97.5 percentile spread over the seeds):
its counted trials, and its Top10HR and TSBA against its own baseline. Trial counts are also
compared with the simulated median (target: within 10%). Prints one table and the share of
real figures inside.

The pool is ``--pool`` (runs of the cell's task), or by default the folder's own baseline
runs of the cell's task and method from the *other* seeds: the cell's own runs are never in
the pool that predicts them, and a random cell is predicted from random draws (TPE's
baselines, crowded with good configurations, made simulated random searches kill less and
start 13-59% fewer trials than the real ones).

    python benchmarks/simulate_validation.py --bench DIR [--pool RUN ...] [--seeds 100]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from bttackler.analysis.metrics import counted_trials, load_run, top10_hit_ratio, tsba
from bttackler.analysis.simulation import simulate
from bttackler.core.config import parse_duration
from bttackler.core.objective import CountRule
from bttackler.runtime.searchers import make_searcher


def real_figures(bench: Path, cell: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per arm of one real cell: counted trials, Top10HR and TSBA against its baseline."""
    runs = {r["arm"]: bench / r["name"] for r in cell["compare"]["runs"]}
    scored = {}
    mode = cell["compare"]["mode"]
    for arm, path in runs.items():
        run = load_run(path)
        scored[arm] = counted_trials(run.trials, CountRule.LAST, budget=run.budget)
    base = scored["baseline"]
    out = {}
    for arm, s in scored.items():
        ratio = top10_hit_ratio([x.value for x in s], [x.value for x in base], mode)
        t = tsba(s, base, mode)
        out[arm] = {
            "trials": float(len(s)),
            "top10hr": math.nan if arm == "baseline" or ratio is None else ratio,
            "tsba": math.nan if arm == "baseline" or t.tsba is None else t.tsba,
        }
    return out


def inside(value: float, figure: dict[str, Any] | None) -> bool | None:
    if figure is None or not math.isfinite(value) or figure.get("spread_low") is None:
        return None
    return figure["spread_low"] - 1e-9 <= value <= figure["spread_high"] + 1e-9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pool",
        type=Path,
        nargs="+",
        help="the pool's runs (default: the "
        "folder's baselines of the cell's task from the other seeds)",
    )
    parser.add_argument("--bench", type=Path, required=True, help="an hpo_effect.py folder")
    parser.add_argument("--task", help="the cells' task name (default: every cell)")
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--method", help="only the cells of this method")
    parser.add_argument(
        "--config",
        type=Path,
        help="thresholds the real runs used (TOML over "
        "the defaults), when they differ from the shipped ones",
    )
    args = parser.parse_args()
    start = time.monotonic()
    everything = [json.loads(p.read_text()) for p in sorted((args.bench / "cells").glob("*.json"))]
    cells = [c for c in everything if args.task is None or c["task"] == args.task]
    cells = [c for c in cells if args.method is None or c["method"] == args.method]
    if not cells:
        print(
            f"error: no cell in {args.bench / 'cells'}"
            + (f" of task {args.task}" if args.task else "")
        )
        return 2
    checks = {"inside": 0, "outside": 0, "trials within 10%": 0, "trials off": 0}
    where = (
        ", ".join(map(str, args.pool))
        if args.pool
        else ("baselines of the other seeds, same method")
    )
    print(f"pool: {where}; {args.seeds} simulated seeds per cell")
    print(f"{'cell':<28}{'arm':<15}{'figure':<9}{'real':>8}{'simulated median [spread]':>34}  ok")
    sims: dict[tuple[str, ...], dict[str, Any]] = {}
    warnings: set[str] = set()
    per_cell: dict[str, bool] = {}  # every real figure of the cell inside its simulated spread
    counts: dict[str, list[tuple[float, float]]] = {}  # arm -> (real, simulated median) per cell
    for cell in cells:
        pool = args.pool or [  # a random search's pool must be random draws: same method
            args.bench / c["compare"]["runs"][0]["name"] for c in everything
            if c["task"] == cell["task"] and c["method"] == cell["method"]
            and c["seed"] != cell["seed"]
        ]  # fmt: skip
        key = (cell["method"], cell["budget"], str(cell["workers"]), *map(str, pool))
        if key not in sims:
            sims[key] = simulate(
                pool, method=cell["method"], arms=cell["arms"],
                budget=parse_duration(cell["budget"]), workers=int(cell["workers"]),
                seeds=args.seeds, searchers=make_searcher, config_file=args.config,
            )  # fmt: skip
        doc = sims[key]
        warnings.update(f"{cell['task']}: {w}" for w in doc["warnings"])
        simulated = {a["arm"]: a for a in doc["arms"]}
        real = real_figures(args.bench, cell)
        name = f"{cell['task']}-{cell['method']}-s{cell['seed']}"
        per_cell[name] = True
        for arm, figures in real.items():
            for figure, value in figures.items():
                sim = simulated.get(arm, {}).get(figure)
                ok = inside(value, sim)
                if ok is None:
                    continue
                checks["inside" if ok else "outside"] += 1
                per_cell[name] = per_cell[name] and ok
                line = "yes" if ok else "NO"
                if figure == "trials" and sim["median"]:
                    counts.setdefault(arm, []).append((value, sim["median"]))
                    close = abs(value - sim["median"]) <= 0.1 * sim["median"]
                    checks["trials within 10%" if close else "trials off"] += 1
                    line += "" if close else f" (median off by {value / sim['median'] - 1:+.0%})"
                spread = f"{sim['median']:.1f} [{sim['spread_low']:.1f}, {sim['spread_high']:.1f}]"
                print(f"{name:<28}{arm:<15}{figure:<9}{value:>8.1f}{spread:>34}  {line}")
    total = checks["inside"] + checks["outside"]
    trials = checks["trials within 10%"] + checks["trials off"]
    print(f"\nreal figures inside the simulated spread of single searches: {checks['inside']}/"
          f"{total}; real trial counts within 10% of the simulated median: "
          f"{checks['trials within 10%']}/{trials} ({time.monotonic() - start:.0f} s)")  # fmt: skip
    whole = sum(per_cell.values())
    print(f"cells whose every real figure (trials, Top10HR, TSBA per arm) is inside: {whole}/"
          f"{len(per_cell)} (target: 4 of 5)")  # fmt: skip
    # One search's count swings with its draws (a few long trials): the time model is judged
    # on the mean over the cells, per arm.
    for arm, pairs in counts.items():
        real_mean = sum(r for r, _ in pairs) / len(pairs)
        sim_mean = sum(m for _, m in pairs) / len(pairs)
        off = real_mean / sim_mean - 1
        verdict = "within" if abs(off) <= 0.1 else "outside"
        print(f"trials of {arm} over {len(pairs)} cells: real mean {real_mean:.1f}, simulated "
              f"{sim_mean:.1f} ({off:+.0%}: {verdict} 10%)")  # fmt: skip
    for warning in sorted(warnings):
        print(f"warning: {warning}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
