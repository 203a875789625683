"""BTTacklerPruner on Optuna's public API, checked on real studies with real storages, for
tests/integrations/test_optuna_public_api.py: run there in-process (the venv's Optuna, the
newest) and as ``python optuna_checks.py FOLDER`` with the oldest Optuna the extra allows
first on PYTHONPATH (prints ``optuna VERSION ok``).

Fast: no training; a NaN ``train_loss`` is AGV's verdict at the epoch it is reported, and only
AGV is enabled, so every other epoch is verdict-free.
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path
from typing import Any

import optuna
from torch import nn

from bttackler.integrations.optuna import (
    GUARD_ATTR,
    PRUNED_BY_ATTR,
    VERDICT_ATTRS,
    BTTacklerPruner,
    should_prune,
)

CONFIG = {"indicators": {"enabled": ["AGV"]}}
GUARD = GUARD_ATTR.format(metric="train_loss")
PRUNED = optuna.trial.TrialState.PRUNED
COMPLETE = optuna.trial.TrialState.COMPLETE
# (value, train_loss) per epoch; None: an infinite loss. The second trial's inf and the third's
# NaN are AGV's verdicts at epoch 2.
CURVES = [[(0.5, 1.0), (0.6, 0.8)], [(0.4, 1.1), (0.7, None)], [(0.3, 1.2), (0.2, math.nan)]]


def storages(folder: Path) -> dict[str, Any]:
    """A SQLite file and a JournalFileBackend log, new in ``folder``."""
    backend = optuna.storages.journal.JournalFileBackend(str(folder / "journal.log"))
    return {
        "sqlite": f"sqlite:///{folder / 'study.db'}",
        "journal": optuna.storages.JournalStorage(backend),
    }


def check_verdicts_and_guard(storage: Any, name: str) -> None:
    """Watched trials share their guard losses as user attributes; a verdict prunes the trial
    (asked with a plain ``trial.should_prune()``) and its user attributes say why."""
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize",
        pruner=BTTacklerPruner(config=CONFIG),
    )
    cohorts: list[list[str]] = []

    def objective(trial: optuna.Trial) -> float:
        monitor = BTTacklerPruner.watch(trial, nn.Linear(2, 2), objective="acc", max_epochs=4)
        judge = monitor.judge.judge

        def judging(history: Any, cohort: Any = None) -> Any:
            cohorts.append([repr(loss) for loss in cohort])
            return judge(history, cohort)

        monitor.judge.judge = judging
        value = 0.0
        with monitor:
            for epoch, (value, loss) in enumerate(CURVES[trial.number]):
                train_loss = math.inf if loss is None else loss
                monitor.report(epoch, acc=value, train_loss=train_loss)
                if trial.should_prune():
                    raise optuna.TrialPruned(monitor.reason)
        return value

    study.optimize(objective, n_trials=len(CURVES))
    first, second, third = study.trials
    assert [t.state for t in study.trials] == [COMPLETE, PRUNED, PRUNED], study.trials
    assert first.user_attrs == {GUARD: [1.0, 0.8]}, first.user_attrs
    assert second.user_attrs[GUARD] == [1.1, None]
    assert third.user_attrs[GUARD] == [1.2, None]
    # the guard's cohort after n epochs: every trial's loss after n epochs, this one's included
    assert cohorts == [
        ["1.0"],
        ["0.8"],
        ["1.0", "1.1"],
        ["0.8", "inf"],
        ["1.0", "1.1", "1.2"],
        ["0.8", "nan", "nan"],  # trial 1's inf is stored as None: read back as NaN
    ], cohorts
    for trial, why in ((second, "train_loss is inf"), (third, "train_loss is nan")):
        attrs = trial.user_attrs
        assert set(attrs) == {GUARD, *VERDICT_ATTRS}, attrs
        assert attrs["bttackler_indicator"] == "AGV"
        assert attrs["bttackler_epoch"] == 2 and attrs["bttackler_benign"] is False
        assert attrs["bttackler_rule"] == why
        assert attrs["bttackler_reason"] == f"AGV at epoch 2: {why}"
    assert PRUNED_BY_ATTR not in second.user_attrs


def check_wrapped_decisions(storage: Any, name: str) -> None:
    """SuccessiveHalvingPruner inside BTTacklerPruner prunes exactly what it prunes alone,
    on the same curves; the trials it pruned carry ``bttackler_pruned_by``."""
    curves = [[0.5, 0.6], [0.4, 0.7], [0.8, 0.9], [0.3, 0.2], [0.85, 0.9], [0.1, 0.95]]
    decisions = {}
    for label, pruner in (
        ("alone", optuna.pruners.SuccessiveHalvingPruner(min_resource=1)),
        (
            "wrapped",
            BTTacklerPruner(wrapped=optuna.pruners.SuccessiveHalvingPruner(min_resource=1)),
        ),
    ):
        study = optuna.create_study(
            study_name=f"{name}-{label}", storage=storage, direction="maximize", pruner=pruner
        )
        asked = []
        for curve in curves:
            trial = study.ask()
            pruned = False
            for step, value in enumerate(curve, start=1):
                trial.report(value, step)
                pruned = trial.should_prune() if label == "alone" else should_prune(trial)
                asked.append(pruned)
                if pruned:
                    break
            if pruned:
                study.tell(trial, state=PRUNED)
            else:
                study.tell(trial, curve[-1])
        decisions[label] = (asked, [t.state for t in study.trials])
        if label == "wrapped":
            for t in study.trials:
                expected = {PRUNED_BY_ATTR: "SuccessiveHalvingPruner"} if t.state == PRUNED else {}
                assert t.user_attrs == expected, (t.number, t.user_attrs)
    assert decisions["alone"] == decisions["wrapped"], decisions
    assert PRUNED in decisions["alone"][1] and COMPLETE in decisions["alone"][1]


def check_median_with_and_without_a_monitor(storage: Any, name: str) -> None:
    """MedianPruner inside BTTacklerPruner: a watched trial asked with a plain
    ``trial.should_prune()`` gets ``bttackler_pruned_by``; an unwatched one is pruned all the
    same but cannot (a warning, once per pruner)."""
    pruner = BTTacklerPruner(wrapped=optuna.pruners.MedianPruner(n_startup_trials=0), config=CONFIG)
    study = optuna.create_study(
        study_name=name, storage=storage, direction="maximize", pruner=pruner
    )
    for value in (0.9, 0.8):
        study.add_trial(
            optuna.trial.create_trial(
                value=value,
                intermediate_values={0: value},
                params={},
                distributions={},
            )
        )
    watched = study.ask()
    with BTTacklerPruner.watch(watched, nn.Linear(2, 2), objective="acc", max_epochs=4) as monitor:
        assert monitor.report(0, acc=0.1, train_loss=1.0) is None
        assert watched.should_prune()
    study.tell(watched, state=PRUNED)
    assert study.trials[-1].user_attrs == {GUARD: [1.0], PRUNED_BY_ATTR: "MedianPruner"}

    bare = study.ask()
    bare.report(0.1, 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert bare.should_prune()
        assert bare.should_prune()
    ours = [str(w.message) for w in caught if "BTTacklerPruner" in str(w.message)]
    assert len(ours) == 1 and "should_prune(trial)" in ours[0], ours
    study.tell(bare, state=PRUNED)
    assert study.trials[-1].user_attrs == {}

    spared = study.ask()
    spared.report(0.95, 0)
    assert not should_prune(spared)
    study.tell(spared, 0.95)
    helped = study.ask()
    helped.report(0.1, 0)
    assert should_prune(helped)
    study.tell(helped, state=PRUNED)
    assert [t.user_attrs for t in study.trials[-2:]] == [{}, {PRUNED_BY_ATTR: "MedianPruner"}]


def run(folder: Path) -> str:
    """Every check, on a SQLite file and a journal log in ``folder``; Optuna's version."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for kind, storage in storages(folder).items():
        check_verdicts_and_guard(storage, f"verdicts-{kind}")
        check_wrapped_decisions(storage, f"wrapped-{kind}")
        check_median_with_and_without_a_monitor(storage, f"median-{kind}")
    return optuna.__version__


if __name__ == "__main__":
    print(f"optuna {run(Path(sys.argv[1]))} ok")
