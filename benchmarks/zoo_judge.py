"""Judge the zoo in seconds: every recorded training replayed with the indicators, labelled by
how it ended, held out by family (``bttackler/analysis/zoo.py`` says how).

Prints, for the held-out families (the figure that counts), the tuning families and all: per
indicator alone and all together, the false alarms (problem verdicts on good trainings), the
share of bad trainings caught and the median epoch of the catch, and the share of the bad
trainings' time saved; then every false alarm with its rule, and whether the targets hold.
A threshold change is re-judged without training anything: ``--config thresholds.toml`` (over
the shipped defaults; the runs' own config snapshots are not read).

    python benchmarks/zoo_judge.py [--zoo results/zoo] [--config FILE] [--trainings] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks" / "zoo"))

from recipes import RECIPES, TUNING  # noqa: E402

from bttackler.analysis.metrics import load_run  # noqa: E402
from bttackler.analysis.replay import replay  # noqa: E402
from bttackler.analysis.zoo import (  # noqa: E402
    Claim,
    Tally,
    Training,
    held_out_split,
    label,
    outcome_scores,
    tally,
)
from bttackler.core.config import load_config  # noqa: E402
from bttackler.core.objective import CountRule  # noqa: E402
from bttackler.diagnosis import build_from_config  # noqa: E402

COMBINED = "all"


def chance_values() -> dict[str, float]:
    """Each dataset's value of a model that learned nothing: 0.1 accuracy on ten classes; for
    the regression, the validation MSE of predicting the training targets' mean."""
    from zoo_lib import diabetes

    d = diabetes()
    mse = float(((d.val_y - d.train_y.mean()) ** 2).mean())
    return {"digits": 0.1, "fashion": 0.1, "diabetes": mse}


def judging_config(config_file: Path | None) -> dict[str, Any]:
    """The thresholds the zoo is judged with: the shipped defaults (and ./bttackler.toml), with
    ``config_file`` over them; never the runs' own snapshots, which hold whatever was shipped
    when each training was recorded (with diagnosis off, they never acted)."""
    return load_config(config_file)


def load_training(run_dir: Path, config: dict[str, Any]) -> Training | None:
    recipe = RECIPES.get(run_dir.name)
    if recipe is None or not (run_dir / "experiment.db").is_file():
        return None
    run = load_run(run_dir)
    if len(run.trials) != 1 or run.trials[0].state not in ("finished", "failed"):
        return None
    trial = run.trials[0]
    result = replay(run, config, count=CountRule.LAST)
    claims = {
        entry["indicator"]: Claim.from_replay(entry["claims"][0])
        for entry in result["indicators"]
        if entry["claims"]
    }
    final = trial.value if trial.value is not None else math.nan
    return Training(
        name=recipe.name, family=recipe.family, dataset=recipe.dataset,
        mode=str(run.meta.get("mode", "max")), final=float(final), epochs=trial.epochs,
        duration=float((trial.ended or 0.0) - (trial.started or 0.0)), claims=claims,
        intent=recipe.intent,
    )  # fmt: skip


def indicator_names(config: dict[str, Any]) -> list[str]:
    """The indicators the zoo is judged with (those that never fired too)."""
    indicators, _ = build_from_config(config)
    return [i.short_name for i in indicators] + [COMBINED]


def fmt(x: float, pattern: str = "{:.0%}") -> str:
    return pattern.format(x) if math.isfinite(x) else "-"


def print_table(title: str, tallies: list[Tally]) -> None:
    first = tallies[-1]
    print(f"\n{title}: {first.good} good, {first.bad} bad, {first.fair} fair trainings")
    print(f"{'indicator':<10}{'false alarms':>13}{'fair claimed':>13}{'bad caught':>12}"
          f"{'median epoch':>14}{'bad time saved':>16}")  # fmt: skip
    for t in tallies:
        print(f"{t.indicator:<10}{len(t.false_alarms):>13}{t.fair_claims:>13}"
              f"{len(t.caught):>5} ({fmt(t.caught_share):>4}){fmt(t.median_epoch, '{:.1f}'):>14}"
              f"{fmt(t.saved_share):>16}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zoo", type=Path, default=ROOT / "results" / "zoo")
    parser.add_argument("--config", type=Path, help="a TOML file of thresholds over the runs'")
    parser.add_argument("--trainings", action="store_true", help="a line per training too")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    start = time.monotonic()
    runs = sorted(p for p in args.zoo.iterdir() if p.is_dir()) if args.zoo.is_dir() else []
    config = judging_config(args.config)
    trainings = [t for t in (load_training(p, config) for p in runs) if t is not None]
    if not trainings:
        print(f"error: no recorded zoo training in {args.zoo} (make zoo records it)")
        return 2
    scores = outcome_scores(trainings, chance_values())
    labels = {t.name: label(scores[t.name]) for t in trainings}
    names = indicator_names(config)
    groups = held_out_split(trainings, TUNING)
    tallies = {g: [tally(n, ts, labels) for n in names] for g, ts in groups.items()}
    held = tallies["held-out"][-1]
    targets = {
        "held-out false alarms == 0": not held.false_alarms,
        "held-out bad caught >= 90%": held.caught_share >= 0.9,
        "held-out median verdict epoch <= 2": held.median_epoch <= 2,
    }
    if args.json:
        doc = {
            "tuning_families": list(TUNING),
            "trainings": [
                {
                    "name": t.name,
                    "family": t.family,
                    "dataset": t.dataset,
                    "final": t.final,
                    "score": scores[t.name],
                    "label": labels[t.name],
                    "epochs": t.epochs,
                    "intent": t.intent,
                    "verdict": None if COMBINED not in t.claims else vars(t.claims[COMBINED]),
                }
                for t in trainings
            ],  # fmt: skip
            "groups": {g: [x.to_json() for x in ts] for g, ts in tallies.items()},
            "targets": targets,
        }
        print(json.dumps(doc, indent=1, default=lambda x: None))
        return 0
    print(f"zoo: {len(trainings)} trainings in {args.zoo}, {len(groups['held-out'])} of them "
          f"in held-out families; tuning families: {', '.join(TUNING)}")  # fmt: skip
    print(
        "labels: good = final value within 10% of its dataset's best (from chance), "
        "bad = diverged or below half way; thresholds: the shipped defaults"
        + (f" with {args.config} over them" if args.config else "")
    )
    for group in ("held-out", "tuning", "all"):
        print_table(group, tallies[group])
    print("\nper family, all indicators together (* held out):")
    print(f"{'family':<14}{'good':>5}{'bad':>5}{'fair':>5}{'false alarms':>14}{'bad caught':>12}"
          f"{'median epoch':>14}   indicators that caught")  # fmt: skip
    for family in dict.fromkeys(t.family for t in trainings):
        members = [t for t in trainings if t.family == family]
        t = tally(COMBINED, members, labels)
        caught_by = sorted({c.indicator for _, c in t.caught})
        mark = "" if family in TUNING else "*"
        print(f"{family + mark:<14}{t.good:>5}{t.bad:>5}{t.fair:>5}{len(t.false_alarms):>14}"
              f"{len(t.caught):>6}/{t.bad:<5}{fmt(t.median_epoch, '{:.1f}'):>14}   "
              f"{', '.join(caught_by) or '-'}")  # fmt: skip
    if args.trainings:
        print("\ntrainings (score: 0 chance .. 1 best of its dataset):")
        for t in sorted(trainings, key=lambda t: (t.family, t.name)):
            c = t.claims.get(COMBINED)
            said = "-" if c is None else f"{c.indicator} at epoch {c.epoch}"
            print(f"  {t.family:<12}{t.name:<30}{labels[t.name]:<5}{scores[t.name]:>6.2f}"
                  f"  {said}")  # fmt: skip
    for group in ("held-out", "tuning"):
        for name, c in tallies[group][-1].false_alarms:
            print(f"false alarm ({group}): {name} {c.indicator} at epoch {c.epoch}: {c.rule}")
    missed = [t.name for t in groups["held-out"] if labels[t.name] == "bad"
              and (t.claims.get(COMBINED) is None or t.claims[COMBINED].benign)]  # fmt: skip
    if missed:
        print(f"bad held-out trainings not caught: {', '.join(missed)}")
    print()
    for name, ok in targets.items():
        print(f"target {name}: {'OK' if ok else 'MISSED'}")
    print(f"(judged in {time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
