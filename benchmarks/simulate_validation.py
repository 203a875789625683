"""Does ``bttackler simulate`` predict real searches? Real ``compare`` cells against simulations
from a pool of the same task.

For every cell of a ``benchmarks/hpo_effect.py`` results folder (one task, method and seed:
the five arms run for real), simulates the same method, budget and workers over ``--seeds``
seeds from a pool and checks, per arm, whether the real run
lands where single simulated searches land (the 2.5-97.5 percentile spread over the seeds):
its counted trials, and its Top10HR and TSBA against its own baseline. Trial counts are also
compared with the simulated median (target: within 10%). Prints one table and the share of
real figures inside.

The machine's pace drifts (a shared host: the same configurations' epochs ran 0.85x-1.2x the
pool's durations an hour later, and runs of one cell two minutes apart differ by up to 15%),
so by default each arm is simulated at the pace its own real run ran at against the pool
(``simulate --pace-of RUN``: epoch durations, start-up and later epochs apart, configuration
by configuration; never a count or a value). ``--pace cell`` takes one pace per cell (all its
runs), ``--pace none`` the pool's recorded pace.

The pool is ``--pool`` (runs of the cell's task), or by default the folder's own baseline
runs of the cell's task and method from the *other* seeds: the cell's own runs are never in
the pool that predicts them, and a random cell is predicted from random draws (TPE's
baselines, crowded with good configurations, made simulated random searches kill less and
start 13-59% fewer trials than the real ones).

    python benchmarks/simulate_validation.py --bench DIR... [--pool [TASK=]RUN ...]
        [--pace run|cell|none] [--seeds 100]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path
from typing import Any

from bttackler.analysis.metrics import counted_trials, load_run, top10_hit_ratio, tsba
from bttackler.analysis.simulation import build_arm, pool_kill_latency, pool_space, simulate
from bttackler.analysis.simulation.engine import simulate_search
from bttackler.analysis.simulation.pace import at_pace, measure_pace
from bttackler.analysis.simulation.pool import firing, load_pool
from bttackler.analysis.simulation.samplers import SearcherPoolSampler
from bttackler.cli.simulation_commands import pace_line
from bttackler.core.config import load_config, parse_duration
from bttackler.core.objective import CountRule
from bttackler.diagnosis import build_from_config
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


class Proposals:
    """A searcher that proposes what a real run proposed, in its order, then (when the
    simulated search runs further) random ones of them."""

    def __init__(self, params: list[dict[str, Any]]) -> None:
        self.params = params
        self.asked = 0
        self.rng = random.Random(0)

    def ask(self) -> dict[str, Any]:
        self.asked += 1
        if self.asked <= len(self.params):
            return self.params[self.asked - 1]
        return self.params[self.rng.randrange(len(self.params))]

    def tell(self, params: Any, value: float | None) -> None:
        pass


def paired(pool_paths: list[Path], cell: dict[str, Any], config: Path | None,
           pace: str, mapping: str) -> dict[str, dict[str, float]]:  # fmt: skip
    """Per arm of one real cell: the counted trials and Top10HR of ONE simulated search that
    starts the real run's own proposals in its order (each mapped to the nearest pool
    configuration), at the pace the run ran at: the simulation's time model and rules,
    without the luck of which configurations the real seed drew."""
    settings = load_config(config)
    base_pool = load_pool(pool_paths)
    indicators, guard = build_from_config(settings)
    base_pool = firing(base_pool, indicators)
    space = pool_space(base_pool, "the paired check")
    budget = parse_duration(cell["budget"])
    out: dict[str, dict[str, float]] = {}
    scored: dict[str, list[Any]] = {}
    for r in cell["compare"]["runs"]:
        run = cell["folder"] / r["name"]
        pool = base_pool
        if pace != "none":
            measured = measure_pace(base_pool, space, [run])
            pool = at_pace(base_pool, measured.startup.factor, measured.epochs.factor)
        rows = sorted(load_run(run).trials, key=lambda t: t.id)
        sampler = SearcherPoolSampler(Proposals([dict(t.params) for t in rows]), space,
                                      [t.params for t in pool.trials], mapping)  # fmt: skip
        outcome = simulate_search(
            pool, build_arm(r["arm"], settings, pool), sampler, workers=int(cell["workers"]),
            budget=budget, count="last", kill_latency=pool_kill_latency(pool),
            turnaround=pool.turnaround, guard=guard,
        )  # fmt: skip
        scored[r["arm"]] = outcome.scored
        out[r["arm"]] = {"trials": float(len(outcome.scored))}
    for arm, s in scored.items():
        ratio = top10_hit_ratio([x.value for x in s], [x.value for x in scored["baseline"]],
                                base_pool.mode)  # fmt: skip
        out[arm]["top10hr"] = math.nan if arm == "baseline" or ratio is None else ratio
    return out


def pool_of(entries: list[str], task: str) -> list[Path]:
    """The runs of ``--pool`` that predict ``task``'s cells: ``TASK=RUN`` entries of that
    task and plain ``RUN`` ones."""
    runs = []
    for entry in entries:
        name, sep, run = entry.partition("=")
        if not sep:
            runs.append(Path(entry))
        elif name == task:
            runs.append(Path(run))
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pool",
        nargs="+",
        help="the pool's runs, each [TASK=]RUN: a run with TASK= predicts only that task's "
        "cells (default: the folder's baselines of the cell's task from the other seeds)",
    )
    parser.add_argument(
        "--bench",
        type=Path,
        nargs="+",
        required=True,
        help="hpo_effect.py folders (one table over all their cells)",
    )
    parser.add_argument("--task", help="the cells' task name (default: every cell)")
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--method", help="only the cells of this method")
    parser.add_argument(
        "--config",
        type=Path,
        help="thresholds the real runs used (TOML over "
        "the defaults), when they differ from the shipped ones",
    )
    parser.add_argument(
        "--pace",
        choices=["run", "cell", "none"],
        default="run",
        help="simulate each arm at the pace its own real run ran at against "
        "the pool (run), each cell at the pace of all its runs (cell), or at "
        "the pool's recorded pace (none) [%(default)s]",
    )
    parser.add_argument(
        "--mapping",
        choices=["nearest", "unused"],
        default="nearest",
        help="how a model-based method's proposal becomes a pool configuration "
        "(simulate --mapping) [%(default)s]",
    )
    args = parser.parse_args()
    start = time.monotonic()
    everything = [{**json.loads(p.read_text()), "folder": bench} for bench in args.bench
                  for p in sorted((bench / "cells").glob("*.json"))]  # fmt: skip
    cells = [c for c in everything if args.task is None or c["task"] == args.task]
    cells = [c for c in cells if args.method is None or c["method"] == args.method]
    if not cells:
        print(
            f"error: no cell in {', '.join(str(b / 'cells') for b in args.bench)}"
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
    print(f"{'cell':<32}{'arm':<15}{'figure':<9}{'real':>8}{'simulated median [spread]':>34}  ok")
    sims: dict[tuple[str, ...], dict[str, Any]] = {}
    warnings: set[str] = set()
    per_cell: dict[str, bool] = {}  # every real figure of the cell inside its simulated spread
    counts: dict[str, list[tuple[float, float]]] = {}  # arm -> (real, simulated median) per cell
    twins: dict[str, list[tuple[float, float]]] = {}  # arm -> (real, paired simulated) trials
    hits: dict[str, list[tuple[float, float]]] = {}  # arm -> (real, paired simulated) Top10HR
    for cell in cells:
        pool = pool_of(args.pool, cell["task"]) if args.pool else [
            # a random search's pool must be random draws: same method
            c["folder"] / c["compare"]["runs"][0]["name"] for c in everything
            if c["task"] == cell["task"] and c["method"] == cell["method"]
            and c["seed"] != cell["seed"]
        ]  # fmt: skip
        runs = {r["arm"]: cell["folder"] / r["name"] for r in cell["compare"]["runs"]}
        name = f"{cell['task']}-{cell['method']}-{cell['budget']}-s{cell['seed']}"
        # which runs set the pace of which arms' simulation
        if args.pace == "run":
            groups = [([arm], [run]) for arm, run in runs.items()]
        else:
            groups = [(list(cell["arms"]), list(runs.values()) if args.pace == "cell" else [])]
        simulated: dict[str, Any] = {}
        for arms, pace_of in groups:
            key = (cell["method"], cell["budget"], str(cell["workers"]), *map(str, pool),
                   *arms, *map(str, pace_of))  # fmt: skip
            if key not in sims:
                sims[key] = simulate(
                    pool, method=cell["method"], arms=arms,
                    budget=parse_duration(cell["budget"]), workers=int(cell["workers"]),
                    seeds=args.seeds, searchers=make_searcher, config_file=args.config,
                    pace_of=pace_of, mapping=args.mapping,
                )  # fmt: skip
            doc = sims[key]
            if doc["pace"].get("measured"):
                what = arms[0] if args.pace == "run" else "all arms"
                print(f"{name} ({what}): " + pace_line(doc["pace"]).split(", measured on")[0])
            warnings.update(f"{cell['task']}: {w}" for w in doc["warnings"])
            simulated.update({a["arm"]: a for a in doc["arms"] if a["arm"] in arms})
        real = real_figures(cell["folder"], cell)
        for arm, figures in paired(pool, cell, args.config, args.pace, args.mapping).items():
            twins.setdefault(arm, []).append((real[arm]["trials"], figures["trials"]))
            if arm != "baseline":
                hits.setdefault(arm, []).append((real[arm]["top10hr"], figures["top10hr"]))
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
                print(f"{name:<32}{arm:<15}{figure:<9}{value:>8.1f}{spread:>34}  {line}")
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
    print("\npaired: one simulated search per real run that starts that run's own proposals in "
          "its order (nearest pool configurations), at its pace -- the time model and the "
          "rules without the luck of the draws; mean over the cells per arm:")  # fmt: skip
    for arm, both in twins.items():
        real_mean = sum(r for r, _ in both) / len(both)
        sim_mean = sum(m for _, m in both) / len(both)
        off = real_mean / sim_mean - 1
        per = ", ".join(f"{r:.0f}/{m:.0f}" for r, m in both)
        hr = ""
        if arm in hits:
            real_hr = sum(r for r, _ in hits[arm]) / len(hits[arm])
            sim_hr = sum(m for _, m in hits[arm]) / len(hits[arm])
            hr = f"; Top10HR real {real_hr:.1f}, paired {sim_hr:.1f}"
        print(f"  {arm:<15} trials real {real_mean:.1f}, paired {sim_mean:.1f} ({off:+.0%}: "
              f"{'within' if abs(off) <= 0.1 else 'outside'} 10%; per cell real/paired "
              f"{per}){hr}")  # fmt: skip
    for warning in sorted(warnings):
        print(f"warning: {warning}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
