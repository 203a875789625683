"""Would ``--avoid-bad`` have skipped a run's best configurations? Checked on recorded runs.

For each run (``--no-diagnosis`` runs: every trial ran to its end, and its recorded verdicts
label it), the trials are replayed in the order they started; before each start the model of
trouble (:class:`~bttackler.diagnosis.avoid.Avoider`, the shipped ``[avoid]`` settings, but
no exploration floor: what the model *would* skip) has seen the outcomes of the trials that
ended before it. Printed per run: trials, bad ones, how many the model would have skipped
(and how many of those were bad: its precision), and whether the run's best trial or any of
its top 10 (by last value) would have been skipped.

    python benchmarks/avoid_check.py RUN [RUN ...] [--config avoid.toml]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

from bttackler.analysis.learn import space_of, trouble_of
from bttackler.analysis.metrics import load_run
from bttackler.core.config import load_config
from bttackler.diagnosis.avoid import Avoider, avoid_settings


def check(path: Path, config: Path | None = None) -> dict:
    run = load_run(path)
    troubles = trouble_of(run)
    trials = sorted((t for t in run.trials if t.id in troubles and t.started is not None),
                    key=lambda t: t.started)  # fmt: skip
    shipped = avoid_settings(load_config(config).get("avoid", {}))
    settings = dataclasses.replace(shipped, explore=0.0, max_skips=10**9)
    avoider = Avoider(space_of(run), settings, seed=0)
    ended = sorted(trials, key=lambda t: t.ended or math.inf)
    told = 0
    skipped: list[int] = []
    for t in trials:
        while told < len(ended) and (ended[told].ended or math.inf) <= t.started:
            done = ended[told]
            avoider.observe(done.params, troubles[done.id] is not None)
            told += 1
        if avoider.judge(t.params) is not None:
            skipped.append(t.id)
    valued = [t for t in trials if t.value is not None and math.isfinite(t.value)]
    valued.sort(key=lambda t: -t.value if run.mode == "max" else t.value)
    top10 = {t.id for t in valued[:10]}
    return {
        "run": path.name, "trials": len(trials),
        "bad": sum(1 for t in trials if troubles[t.id] is not None),
        "skipped": len(skipped),
        "skipped_bad": sum(1 for i in skipped if troubles[i] is not None),
        "best_skipped": bool(valued) and valued[0].id in skipped,
        "top10_skipped": len(top10 & set(skipped)),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--config", type=Path, help="[avoid] settings over the shipped ones")
    args = parser.parse_args()
    print(f"{'run':<44}{'trials':>7}{'bad':>6}{'would skip':>11}{'of them bad':>12}"
          f"{'best skipped':>14}{'top-10 skipped':>16}")  # fmt: skip
    rows = [check(p, args.config) for p in args.runs]
    for r in rows:
        print(f"{r['run']:<44}{r['trials']:>7}{r['bad']:>6}{r['skipped']:>11}"
              f"{r['skipped_bad']:>12}{'YES' if r['best_skipped'] else 'no':>14}"
              f"{r['top10_skipped']:>16}")  # fmt: skip
    skipped = sum(r["skipped"] for r in rows)
    precision = sum(r["skipped_bad"] for r in rows) / skipped if skipped else math.nan
    print(f"\nall: would skip {skipped} trials, {precision:.0%} of them bad; best trial skipped in "
          f"{sum(r['best_skipped'] for r in rows)} of {len(rows)} runs; top-10 trials skipped: "
          f"{sum(r['top10_skipped'] for r in rows)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
