"""Optuna pruners on the default task: none vs MedianPruner vs BTTacklerPruner vs
BTTacklerPruner(wrapped=MedianPruner()), same wall-clock budget, TPE and random samplers.

Each study optimizes the digits task (tasks/digits.py: its CNN from tasks/models.py, its
search space search_spaces/digits.yaml, its fixed stratified train/validation split and its
training loop) with ``study.optimize(timeout=BUDGET)`` in this process, one thread. The
trials go through the project's own metrics (bttackler/analysis/metrics.py) as the run's
``TrialRow``s would: a completed trial is ``finished``, a pruned one ``terminated`` and counts
with its last reported value (the paper's rule), times are seconds since the study started.
Prints per sampler and pruner, over the seeds: counted trials, pruned trials, and Top10HR
and TSBA against the no-pruning study of the same sampler and seed (mean +- sample std;
"n/r" counts the seeds where the arm never reached the baseline's best).

The defaults (2 samplers x 4 pruners x 3 seeds x 120 s) take about 50 min on one core.

Usage: python benchmarks/optuna_pruners.py [--budget 120] [--seeds 0,1,2]
       [--samplers tpe,random] [--epochs 20]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Any

import optuna
import torch
from _common import ROOT
from bttackler.tasks import digits
from bttackler.tasks._optimizers import make_optimizer
from bttackler.tasks._training import fit_classifier

from bttackler.analysis.metrics import TsbaStatus, counted_trials, top10_hit_ratio, tsba
from bttackler.core.objective import CountRule
from bttackler.core.space import load_space
from bttackler.core.store import TrialRow
from bttackler.integrations.optuna import BTTacklerPruner

PRUNERS = ("none", "median", "bttackler", "bttackler+median")
STATE = {
    optuna.trial.TrialState.COMPLETE: "finished",
    optuna.trial.TrialState.PRUNED: "terminated",
    optuna.trial.TrialState.FAIL: "failed",
}


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    """The digits search space (NNI format, randint upper bounds exclusive) as Optuna's."""
    params: dict[str, Any] = {}
    for name in SPACE.names:
        p = SPACE[name]
        if p.type == "choice":
            params[name] = trial.suggest_categorical(name, list(p.values))
        elif p.type == "randint":
            params[name] = trial.suggest_int(name, int(p.low), int(p.high) - 1)
        elif p.type in ("uniform", "loguniform"):
            params[name] = trial.suggest_float(name, p.low, p.high, log=p.type == "loguniform")
        else:
            raise SystemExit(f"{name}: {p.type} is not mapped to Optuna here")
    return params


class _Report:
    """What tasks/_training.fit_classifier reports to: the monitor, then Optuna's pruning."""

    def __init__(self, trial: optuna.Trial, monitor: Any) -> None:
        self.trial, self.monitor = trial, monitor
        self.last = math.nan

    def report(self, epoch: int, **metrics: float) -> None:
        self.last = metrics["val_acc"]
        if self.monitor is not None:
            self.monitor.report(epoch, **metrics)
        else:
            self.trial.report(metrics["val_acc"], epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(getattr(self.monitor, "reason", None))


def objective_for(pruner: str, seed: int, epochs: int) -> Any:
    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial)
        torch.manual_seed(seed * 100_000 + trial.number)
        generator = torch.Generator().manual_seed(seed * 100_000 + trial.number)
        train, val = digits.load_split()
        model = digits.build_model(params)
        optimizer = make_optimizer(
            str(params["optimizer"]),
            model.parameters(),
            lr=float(params["lr"]),
            weight_decay=float(params["weight_decay"]),
        )
        monitor = None
        if pruner.startswith("bttackler"):
            monitor = BTTacklerPruner.watch(
                trial,
                model,
                objective="val_acc",
                max_epochs=epochs,
                chance_loss=digits.CHANCE_LOSS,
            )
        reporter = _Report(trial, monitor)
        try:
            fit_classifier(
                model,
                optimizer,
                train,
                val,
                reporter,
                batch_size=int(params["batch_size"]),
                epochs=epochs,
                prepare=lambda x, training: x,
                generator=generator,
            )
        finally:
            if monitor is not None:
                monitor.close()
        return reporter.last

    return objective


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner()
    if name == "bttackler":
        return BTTacklerPruner()
    return BTTacklerPruner(wrapped=optuna.pruners.MedianPruner())


def run_study(sampler: str, pruner: str, seed: int, budget: float, epochs: int) -> list[TrialRow]:
    """One study; its trials as the metrics' rows (times: seconds since the study started)."""
    samplers = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
    study = optuna.create_study(
        direction="maximize", sampler=samplers[sampler](seed=seed), pruner=make_pruner(pruner)
    )
    began = time.time()
    study.optimize(objective_for(pruner, seed, epochs), timeout=budget)
    rows = []
    for t in study.get_trials(deepcopy=False):
        steps = t.intermediate_values
        last = steps[max(steps)] if steps else None
        rows.append(
            TrialRow(
                id=t.number,
                params=dict(t.params),
                state=STATE.get(t.state, "stopped"),
                reason=t.user_attrs.get("bttackler_reason"),
                value=last,
                best_value=max(steps.values()) if steps else None,
                epochs=len(steps),
                slot=0,
                started=t.datetime_start.timestamp() - began if t.datetime_start else None,
                ended=t.datetime_complete.timestamp() - began if t.datetime_complete else None,
                indicator=t.user_attrs.get("bttackler_indicator"),
                rule=t.user_attrs.get("bttackler_rule"),
                verdict_epoch=t.user_attrs.get("bttackler_epoch"),
                retry_of=None,
            )
        )
    return rows


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} +- {statistics.stdev(values):.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=120.0, help="seconds per study")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--samplers", default="tpe,random")
    ap.add_argument("--epochs", type=int, default=digits.MAX_EPOCHS)
    args = ap.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seeds = [int(s) for s in args.seeds.split(",")]
    samplers = args.samplers.split(",")
    count = CountRule.LAST
    print(f"digits, {args.epochs} epochs max, {args.budget:g} s per study, seeds {seeds}")
    print(f"{'sampler':8} {'pruner':17} {'trials':>7} {'pruned':>7} {'Top1':>6} "
          f"{'Top10HR % vs none':>18} {'TSBA % vs none':>16} {'n/r':>4}")  # fmt: skip
    for sampler in samplers:
        results: dict[str, list[list[TrialRow]]] = {p: [] for p in PRUNERS}
        for seed in seeds:
            for pruner in PRUNERS:
                results[pruner].append(run_study(sampler, pruner, seed, args.budget, args.epochs))
        for pruner in PRUNERS:
            trials, pruned, top1, hr, saved, not_reached = [], [], [], [], [], 0
            for rows, base_rows in zip(results[pruner], results["none"]):
                arm = counted_trials(rows, count, budget=args.budget)
                base = counted_trials(base_rows, count, budget=args.budget)
                trials.append(float(len(arm)))
                pruned.append(float(sum(r.state == "terminated" for r in rows)))
                top1 += [max(s.value for s in arm)] if arm else []
                ratio = top10_hit_ratio([s.value for s in arm], [s.value for s in base], "max")
                hr += [ratio] if ratio is not None else []
                t = tsba(arm, base, "max")
                if t.tsba is not None and math.isfinite(t.tsba):
                    saved.append(t.tsba)
                elif t.status is TsbaStatus.NOT_REACHED:
                    not_reached += 1
            best = f"{statistics.mean(top1):.3f}" if top1 else "-"
            print(f"{sampler:8} {pruner:17} {statistics.mean(trials):7.1f} "
                  f"{statistics.mean(pruned):7.1f} {best:>6} {_mean_std(hr):>18} "
                  f"{_mean_std(saved):>16} {not_reached:4d}")  # fmt: skip


SPACE = load_space(ROOT / "search_spaces" / "digits.yaml")

if __name__ == "__main__":
    main()
