"""BTTacklerPruner on a real Optuna study: two worker processes sharing a SQLite file (and a
JournalStorage), each trial a pathology of tests/fixtures/diagnosis_task.py; the right trials
are pruned for the right reasons, the healthy one completes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from bttackler.integrations.optuna import (  # noqa: E402
    PRUNED_BY_ATTR,
    VERDICT_ATTRS,
    BTTacklerPruner,
    should_prune,
)

pytestmark = pytest.mark.slow  # real worker processes

WORKER = Path(__file__).with_name("optuna_worker.py")

# behaviour -> the indicator that prunes it (the one `bttackler run` terminates it with).
EXPECTED = {
    "nan": "AGV",
    "exploding": "EAG|TWU",  # x25 per layer: big weights, so each step is tiny beside them
    "vanishing": "ERG|VGM|TWU",  # ERG at epoch 1; VGM and TWU confirm over two epochs
    "frozen": "TWU",  # lr 1e-8: TWU at epoch 2, before PLC could see the flat loss
    "dead_relu": "LAR",
    "converge": "NMG",
}


def _optimize(url: str, storage: object, workers: int) -> optuna.Study:
    study = optuna.create_study(
        study_name="s", storage=storage, direction="maximize", pruner=BTTacklerPruner()
    )
    behaviours = ["healthy", *EXPECTED]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), url, "s", ",".join(behaviours[i::workers])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(workers)
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
    return study


def _check(study: optuna.Study) -> None:
    trials = {t.user_attrs["behaviour"]: t for t in study.get_trials()}
    assert len(study.get_trials()) == len(trials) == len(EXPECTED) + 1
    assert len({t.user_attrs["pid"] for t in trials.values()}) == 2  # two processes
    healthy = trials["healthy"]
    assert healthy.state == optuna.trial.TrialState.COMPLETE
    assert len(healthy.intermediate_values) == 12
    assert not set(VERDICT_ATTRS) & set(healthy.user_attrs)
    assert PRUNED_BY_ATTR not in healthy.user_attrs
    assert len(healthy.user_attrs["bttackler_guard_train_loss"]) == 12  # the guard's cohort
    for behaviour, indicator in EXPECTED.items():
        t = trials[behaviour]
        assert t.state == optuna.trial.TrialState.PRUNED, behaviour
        attrs = t.user_attrs
        assert attrs["bttackler_indicator"] in indicator.split("|"), (behaviour, attrs)
        assert attrs["bttackler_benign"] is (indicator == "NMG")
        assert attrs["bttackler_rule"]
        assert attrs["bttackler_epoch"] == max(t.intermediate_values) + 1  # counted from 1
        assert attrs["bttackler_reason"].startswith(f"{attrs['bttackler_indicator']} at epoch ")
    if importlib.util.find_spec("pandas") is not None:  # trials_dataframe needs pandas
        frame = study.trials_dataframe()
        assert "user_attrs_bttackler_indicator" in frame.columns


def test_two_processes_share_a_sqlite_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    _check(_optimize(url, url, workers=2))


def test_journal_storage(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    backend = optuna.storages.journal.JournalFileBackend(str(path))
    storage = optuna.storages.JournalStorage(backend)
    _check(_optimize(f"journal:{path}", storage, workers=2))


def test_threads_and_a_wrapped_median_pruner() -> None:
    """n_jobs=2 in one process: each thread's trial has its own probe; MedianPruner's
    prunes are marked as its own, the indicators' as theirs."""
    import torch

    sys.path.insert(0, str(WORKER.parent))
    import optuna_worker as worker

    worker.BEHAVIOURS[:] = ["healthy", "healthy", "nan", "frozen"]
    torch.set_num_threads(1)
    pruner = BTTacklerPruner(wrapped=optuna.pruners.MedianPruner(n_warmup_steps=100))
    study = optuna.create_study(direction="maximize", pruner=pruner)
    study.optimize(worker.objective, n_trials=4, n_jobs=2)
    by = {}
    for t in study.trials:
        by.setdefault(t.user_attrs["behaviour"], []).append(t)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in by["healthy"])
    assert by["nan"][0].user_attrs["bttackler_indicator"] == "AGV"
    assert by["frozen"][0].user_attrs["bttackler_indicator"] == "TWU"

    median = BTTacklerPruner(wrapped=optuna.pruners.MedianPruner(n_startup_trials=0))
    study = optuna.create_study(direction="maximize", pruner=median)
    for value in (0.9, 0.8):
        study.add_trial(
            optuna.trial.create_trial(
                value=value, intermediate_values={0: value}, params={}, distributions={}
            )
        )
    trial = study.ask()
    trial.report(0.1, 0)
    assert should_prune(trial)  # no monitor: should_prune() lets the pruner write through it
    assert study.trials[-1].user_attrs["bttackler_pruned_by"] == "MedianPruner"


def test_a_wrapped_successive_halving_pruner_agrees_with_our_asha(tmp_path: Path) -> None:
    """Optuna's SuccessiveHalvingPruner inside BTTacklerPruner, on a SQLite study, and
    ``--etr asha`` on the same curves stop the same trials at the same rung."""
    from bttackler.core.history import EpochRecord, TrialHistory
    from bttackler.diagnosis.etr import SuccessiveHalving

    pruner = BTTacklerPruner(wrapped=optuna.pruners.SuccessiveHalvingPruner(min_resource=1))
    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 's.db'}", direction="maximize", pruner=pruner
    )
    curves = [[0.5, 0.6], [0.4, 0.7], [0.8, 0.9], [0.3, 0.2], [0.85, 0.9]]
    ours = SuccessiveHalving(objective="acc", mode="max")
    seen: list[TrialHistory] = []
    for number, curve in enumerate(curves):
        trial = study.ask()
        records: list[EpochRecord] = []
        pruned_by_optuna = pruned_by_us = False
        for step, value in enumerate(curve, start=1):  # Optuna's rung 0 is at step 1
            trial.report(value, step)
            records.append(EpochRecord(epoch=step, metrics={"acc": value}))
            history = TrialHistory(number + 1, {}, max_epochs=10, epochs=tuple(records))
            pruned_by_us = ours.check(history, seen) is not None
            pruned_by_optuna = should_prune(trial)
            assert pruned_by_us == pruned_by_optuna, (number, step)
            if pruned_by_optuna:
                break
        seen.append(history)
        if pruned_by_optuna:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, curve[-1])
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "PRUNED", "COMPLETE", "PRUNED", "COMPLETE"]
    pruned = study.trials[1].user_attrs
    assert pruned["bttackler_pruned_by"] == "SuccessiveHalvingPruner"


def test_prune_benign_false_lets_a_converged_trial_complete() -> None:
    sys.path.insert(0, str(WORKER.parent))
    import optuna_worker as worker

    worker.BEHAVIOURS[:] = ["converge"]
    study = optuna.create_study(direction="maximize", pruner=BTTacklerPruner(prune_benign=False))
    study.optimize(worker.objective, n_trials=1)
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE
