"""Does diagnosis pay off? Decided by simulation: every arm, 100 seeds, from recorded pools.

For each pool (one task's runs whose trials ran to their end: ``make pools``, or a folder of
``make bench-hpo`` baselines) and each method, ``bttackler simulate`` runs the five arms over
``--seeds`` seeds and this prints one table: per arm the counted trials, Top10HR and TSBA
against the baseline of the same seed as interquartile mean [bootstrap 95% interval], and the
targets: bttackler's Top10HR IQM >= 75% and TSBA >= 45%, and bttackler above lce and msr with
intervals that do not overlap. Beside them, the bound a perfect killer could reach on that
pool: killing every bad trial at no cost gives random search at most 1 / (2 - b) Top10HR,
where b is the share of trial time the pool's bad trials take (those ending below the pool's
median value, or not finite).

    python benchmarks/simulate_payoff.py --pool digits-wide=results/pools/digits-wide \\
        --pool diabetesmlp=results/pools/diabetesmlp [--methods random,tpe] [--budget 30m]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path
from typing import Any

from bttackler.analysis.simulation import simulate
from bttackler.analysis.simulation.pool import load_pool
from bttackler.core.config import parse_duration
from bttackler.runtime.searchers import make_searcher


def bad_time_share(paths: list[Path]) -> float:
    """Share of the pool's trial time taken by trials ending below its median (or NaN)."""
    pool = load_pool(paths)
    finals = [t.objective[-1] for t in pool.trials]
    finite = [v for v in finals if math.isfinite(v)]
    median = statistics.median(finite)
    worse = (lambda v: v < median) if pool.mode == "max" else (lambda v: v > median)
    total = sum(t.end for t in pool.trials)
    bad = sum(t.end for t, v in zip(pool.trials, finals, strict=True)
              if not math.isfinite(v) or worse(v))  # fmt: skip
    return bad / total if total else math.nan


def auto_budget(paths: list[Path], workers: int, trials: int = 110) -> float:
    """Seconds in which ``workers`` slots run about ``trials`` of the pool's trials at their
    recorded durations (the issue's "long enough for >= 100 baseline trials")."""
    pool = load_pool(paths)
    mean = statistics.fmean(t.end for t in pool.trials)
    return mean * trials / workers


def text(figure: dict[str, Any] | None) -> str:
    if not figure or not figure["n"]:
        return "-"
    return f"{figure['iqm']:6.1f} [{figure['low']:6.1f}, {figure['high']:6.1f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", action="append", required=True, metavar="NAME=RUN[,RUN...]")
    parser.add_argument("--methods", default="random,tpe")
    parser.add_argument("--budget", default="auto",
                        help="per pool: auto = long enough for ~110 baseline trials")  # fmt: skip
    parser.add_argument("--arms", default="baseline,bttackler,lce,msr,bttackler+msr,asha,"
                        "bttackler+asha,bttackler+avoid")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=100)
    args = parser.parse_args()
    start = time.monotonic()
    results = []
    print(f"{'pool':<14}{'method':<8}{'arm':<16}{'trials':>24}{'Top10HR %':>24}{'TSBA %':>24}"
          f"{'bad started %':>24}")  # fmt: skip
    for spec in args.pool:
        name, _, runs = spec.partition("=")
        paths = [Path(p) for p in runs.split(",") if p]
        share = bad_time_share(paths)
        budget = auto_budget(paths, args.workers) if args.budget == "auto" else parse_duration(
            args.budget)  # fmt: skip
        for method in args.methods.split(","):
            doc = simulate(paths, method=method, budget=budget, workers=args.workers,
                           seeds=args.seeds, searchers=make_searcher,
                           arms=args.arms.split(","))  # fmt: skip
            arms = {a["arm"]: a for a in doc["arms"]}
            for arm, a in arms.items():
                skipped = f"  skipped {a['skipped']:.0f}" if a["skipped"] else ""
                print(f"{name:<14}{method:<8}{arm:<16}{text(a['trials']):>24}"
                      f"{text(a['top10hr']):>24}{text(a['tsba']):>24}"
                      f"{text(a['bad_started']):>24}{skipped}")  # fmt: skip
            bound = 100 / (2 - share) if method == "random" and math.isfinite(share) else None
            print(f"{'':<22}budget {budget:.0f} s; pool {doc['pool_trials']} trials, bad time "
                  f"{share:.0%}"
                  + (f": a perfect killer's Top10HR <= {bound:.0f}%" if bound else "")
                  + "".join(f"; warning: {w}" for w in doc["warnings"]))  # fmt: skip
            results.append((name, method, arms))
    print()
    for name, method, arms in results:
        btt = arms["bttackler"]
        hr, ts = btt["top10hr"], btt["tsba"]
        others = [arms[a]["top10hr"] for a in ("lce", "msr") if a in arms]
        above = all(hr["low"] > o["high"] for o in others if o and o["n"])
        for rule in ("asha", "avoid"):
            alone = arms.get(rule if rule != "avoid" else "bttackler")
            both = arms.get(f"bttackler+{rule}")
            if alone and both and alone["top10hr"] and both["top10hr"]:
                a, b = alone["top10hr"], both["top10hr"]
                print(f"{name} {method}: bttackler+{rule} {b['iqm']:.1f} [{b['low']:.1f}, "
                      f"{b['high']:.1f}] vs {alone['arm']} {a['iqm']:.1f} [{a['low']:.1f}, "
                      f"{a['high']:.1f}]; bad started {both['bad_started']['iqm']:.1f}% vs "
                      f"{alone['bad_started']['iqm']:.1f}%")  # fmt: skip
        print(f"{name} {method}: Top10HR {hr['iqm']:.1f} (target 75: "
              f"{'OK' if hr['iqm'] >= 75 else 'MISSED'}), TSBA "
              f"{ts['iqm'] if ts['n'] else math.nan:.1f} (target 45: "
              f"{'OK' if ts['n'] and ts['iqm'] >= 45 else 'MISSED'}), above lce and msr "
              f"without overlap: {'yes' if above else 'no'}")  # fmt: skip
    print(f"({time.monotonic() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
