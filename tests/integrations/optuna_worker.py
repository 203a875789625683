"""One Optuna worker process for tests/integrations/test_optuna.py.

``python optuna_worker.py STORAGE STUDY BEHAVIOUR,BEHAVIOUR,...`` optimizes the shared study,
one trial per behaviour: each trains tests/fixtures/diagnosis_task.py's model of that
behaviour, watched by BTTacklerPruner's monitor. STORAGE is an RDB URL or ``journal:PATH``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import optuna
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import diagnosis_task as task  # noqa: E402

from bttackler.integrations.optuna import BTTacklerPruner  # noqa: E402

BEHAVIOURS: list[str] = []  # this worker's, in order (from the command line)


def objective(trial: optuna.Trial) -> float:
    behaviour = BEHAVIOURS.pop(0)
    trial.set_user_attr("behaviour", behaviour)
    trial.set_user_attr("pid", os.getpid())
    torch.manual_seed(trial.number)
    model, optimizer, noise = task.build(behaviour)
    x, y, x_val, y_val = task._data(noise)
    monitor = BTTacklerPruner.watch(trial, model, objective="val_acc", max_epochs=task.MAX_EPOCHS)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.Generator().manual_seed(trial.number)
    val_acc = 0.0
    with monitor:
        for epoch in range(task.MAX_EPOCHS):
            if behaviour == "dead_relu" and epoch == task.DEATH:
                with torch.no_grad():
                    model[2].bias.fill_(-100.0)
            model.train()
            perm = torch.randperm(task.N_TRAIN, generator=order)
            total = 0.0
            for start in range(0, task.N_TRAIN, task.BATCH):
                idx = perm[start : start + task.BATCH]
                optimizer.zero_grad()
                loss = loss_fn(model(x[idx]), y[idx])
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
            model.eval()
            with torch.no_grad():
                val_acc = float((model(x_val).argmax(dim=1) == y_val).float().mean())
            monitor.report(epoch, train_loss=total / task.N_TRAIN, val_acc=val_acc)
            if trial.should_prune():
                raise optuna.TrialPruned(monitor.reason)
    return val_acc


def storage_of(url: str) -> optuna.storages.BaseStorage | str:
    if url.startswith("journal:"):
        backend = optuna.storages.journal.JournalFileBackend(url[len("journal:") :])
        return optuna.storages.JournalStorage(backend)
    return url


def main() -> None:
    url, name = sys.argv[1], sys.argv[2]
    BEHAVIOURS.extend(sys.argv[3].split(","))
    n_trials = len(BEHAVIOURS)
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=storage_of(url), pruner=BTTacklerPruner())
    study.optimize(objective, n_trials=n_trials)


if __name__ == "__main__":
    main()
