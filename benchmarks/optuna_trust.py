"""Live check of trust: the Optuna study a new user tried, judged live, never pruned.

The case that opened the trust issue: an Optuna study of plain MLPs on scikit-learn's digits
(depth 2/8/20, ReLU/sigmoid/tanh, SGD/Adam/Adagrad, lr 1e-6..1e4, PyTorch's default
initialisation, 10 epochs), random sampler, 30 configurations. Here every trial trains to its
end under a real Optuna study (SQLite storage) with ``NopPruner``, while bttackler's
``TrialMonitor`` judges it live, epoch by epoch, with the probe sampling as it does in a user's
process (time-based: the live readings move from process to process). Each trial is then
labelled by its final val_acc as the zoo labels (``bttackler.analysis.zoo``: good within 10% of
the study's best from chance, bad below half way) and the live verdict is checked against it:

* false alarms: problem verdicts on good trials (target 0), with the rule and epoch;
* catches: problem verdicts on bad trials, their share and median epoch.

    python benchmarks/optuna_trust.py [--seeds 3] [--trials 30] [--epochs 10] [--config FILE]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from torch import nn

from bttackler.analysis.zoo import label
from bttackler.integrations.optuna import TrialMonitor

CHANCE_ACC = 0.1


def digits() -> tuple[torch.Tensor, ...]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target, dtype=torch.int64)
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(y)))
    tr, va = order[360:], order[:360]
    return x[tr], y[tr], x[va], y[va]


def model(depth: int, activation: str) -> nn.Module:
    act = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[activation]
    layers: list[nn.Module] = []
    width = 64
    for _ in range(depth - 1):
        layers += [nn.Linear(width, 64), act()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def objective(
    trial: optuna.Trial, data: tuple[torch.Tensor, ...], epochs: int, config: Path | None
) -> float:
    depth = trial.suggest_categorical("depth", [2, 8, 20])
    activation = trial.suggest_categorical("activation", ["relu", "sigmoid", "tanh"])
    name = trial.suggest_categorical("optimizer", ["sgd", "adam", "adagrad"])
    lr = trial.suggest_float("lr", 1e-6, 1e4, log=True)
    torch.manual_seed(trial.number)
    net = model(depth, activation)
    opt_class = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam,
                 "adagrad": torch.optim.Adagrad}[name]  # fmt: skip
    opt = opt_class(net.parameters(), lr=lr)
    x, y, xv, yv = data
    monitor = TrialMonitor(trial, net, objective="val_acc", max_epochs=epochs,
                           chance_loss=math.log(10), config=config)  # fmt: skip
    gen = torch.Generator().manual_seed(trial.number)
    acc = math.nan
    with monitor:
        for epoch in range(epochs):
            net.train()
            total = 0.0
            for idx in torch.randperm(len(y), generator=gen).split(64):
                opt.zero_grad()
                loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            net.eval()
            with torch.no_grad():
                out = net(xv)
                val_loss = float(nn.functional.cross_entropy(out, yv))
                acc = float((out.argmax(1) == yv).float().mean())
            monitor.report(epoch, train_loss=total / len(y), val_loss=val_loss, val_acc=acc)
        verdict = monitor.verdict
    if verdict is not None and not verdict.benign:
        trial.set_user_attr("verdict", f"{verdict.indicator}@{verdict.epoch}: {verdict.rule}")
        trial.set_user_attr("verdict_epoch", verdict.epoch)
    return acc


def one_study(
    seed: int, trials: int, epochs: int, folder: Path, config: Path | None
) -> list[optuna.trial.FrozenTrial]:
    """One study of ``trials`` random configurations, each trained to its end."""
    data = digits()
    study = optuna.create_study(
        direction="maximize", storage=f"sqlite:///{folder / f'study-{seed}.db'}",
        sampler=optuna.samplers.RandomSampler(seed=seed), pruner=optuna.pruners.NopPruner(),
    )  # fmt: skip
    study.optimize(lambda t: objective(t, data, epochs, config), n_trials=trials)
    return [t for t in study.trials if t.value is not None]


def judged(done: list[optuna.trial.FrozenTrial], best: float) -> dict[str, Any]:
    """A study's trials labelled against ``best`` (the best of every study: one study of a
    space this wide may hold no good trial at all), and what the live verdicts said."""
    rows = []
    for t in done:
        score = (t.value - CHANCE_ACC) / (best - CHANCE_ACC) if math.isfinite(t.value) else math.nan
        rows.append((t, label(score)))
    good = [t for t, lab in rows if lab == "good"]
    bad = [t for t, lab in rows if lab == "bad"]
    return {
        "good": len(good), "bad": len(bad), "trials": len(done),
        "study_best": max((t.value for t in done if math.isfinite(t.value)), default=math.nan),
        "false_alarms": [(t.number, t.value, t.params, t.user_attrs["verdict"])
                         for t in good if "verdict" in t.user_attrs],
        "caught": [t.user_attrs["verdict_epoch"] for t in bad if "verdict" in t.user_attrs],
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--config", type=Path, help="a TOML of thresholds (default: the shipped)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    start = time.monotonic()
    studies = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            studies.append(one_study(seed, args.trials, args.epochs, Path(tmp), args.config))
            print(f"seed {seed}: {len(studies[-1])} trials trained", flush=True)
    best = max(t.value for done in studies for t in done if math.isfinite(t.value))
    print(f"labels against the best val_acc of all studies, {best:.3f} (config: "
          f"{args.config or 'the shipped thresholds'})")  # fmt: skip
    results = [judged(done, best) for done in studies]
    for seed, r in enumerate(results):
        share = len(r["caught"]) / r["bad"] if r["bad"] else math.nan
        print(f"seed {seed}: {r['trials']} trials (best {r['study_best']:.3f}): {r['good']} good,"
              f" {r['bad']} bad; false alarms {len(r['false_alarms'])}, bad caught "
              f"{len(r['caught'])}/{r['bad']} ({share:.0%})")  # fmt: skip
        for number, value, params, verdict in r["false_alarms"]:
            print(f"  false alarm: trial {number} val_acc {value:.3f} {params}: {verdict}")
    caught = [e for r in results for e in r["caught"]]
    bad = sum(r["bad"] for r in results)
    alarms = sum(len(r["false_alarms"]) for r in results)
    print(f"\nall seeds: false alarms {alarms} on {sum(r['good'] for r in results)} good trials "
          f"(target 0); bad caught {len(caught)}/{bad} "
          f"({len(caught) / bad if bad else math.nan:.0%}), median epoch "
          f"{statistics.median(caught) if caught else math.nan}; "
          f"{time.monotonic() - start:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
