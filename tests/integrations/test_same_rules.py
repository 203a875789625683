"""One recorded history, five judges, one verdict: ``bttackler run``'s diagnoser, ``replay``, the
Python API's ``Judge``, the Optuna pruner on a real study and the Lightning callback in a real
``Trainer`` judge with the same code and thresholds.

The histories are zoo trainings (``tests/fixtures/recorded/``, first epochs as the store kept
them): an 8-layer ReLU MLP with Adam that reached val_acc 0.94 (epoch 1's sampled gradients
read 7.6e-6: no verdict), a 20-layer one at batch 16 whose loss never left chance (VGM at
epoch 2), and a 12-layer sigmoid MLP under SGD (TWU at epoch 2).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from bttackler.analysis.replay import ReplayEvent, simulate, trial_events
from bttackler.core.config import load_config
from bttackler.core.history import TrialHistory
from bttackler.core.store import TrialRow
from bttackler.core.verdict import Verdict
from bttackler.diagnosis import Diagnoser, build_from_config
from bttackler.integrations.api import Judge

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
EXPECTED = {  # recipe -> (indicator, epoch) or None
    "deep-relu8-adam-5e-3": None,
    "deep-relu20-adam-bs16": ("VGM", 2),
    "deep-sigmoid12-sgd": ("TWU", 2),
}


def recorded_events(name: str) -> list[ReplayEvent]:
    doc = json.loads((RECORDED / f"{name}.json").read_text())
    trial = TrialRow(1, doc["params"], "finished", None, None, None, len(doc["epochs"]),
                     0, 0.0, None, None, None, None, None)  # fmt: skip
    return trial_events(
        trial, doc["max_epochs"], [tuple(e) for e in doc["epochs"]],
        [tuple(r) for r in doc["layer_stats"]], [tuple(r) for r in doc["nonfinite"]],
        float(doc["chance_loss"]), [tuple(r) for r in doc["early"]],
    )  # fmt: skip


def key(verdict: Verdict | None) -> tuple[str, int, str] | None:
    return None if verdict is None else (verdict.indicator, verdict.epoch, verdict.rule)


def replay_verdict(events: list[ReplayEvent]) -> tuple[str, int, str] | None:
    indicators, guard = build_from_config(load_config())
    claims = simulate(events, indicators, guard, {1: None})
    if not claims:
        return None
    claim = claims[1]
    return claim.indicator, claim.epoch, claim.rule


def judge_verdict(events: list[ReplayEvent]) -> tuple[str, int, str] | None:
    judge = Judge()
    for event in events:
        verdict = judge.judge(event.history)
        if verdict is not None:
            return key(verdict)
    return None


def diagnoser_verdict(events: list[ReplayEvent]) -> tuple[str, int, str] | None:
    """The live run's diagnoser (a thread per rule), fed event by event as the monitor does;
    the first verdict to arrive after an event, in the configured order (what replay picks)."""
    indicators, guard = build_from_config(load_config())
    order = [i.short_name for i in indicators]
    found: list[Verdict] = []
    diagnoser = Diagnoser(indicators, lambda _tid, v: found.append(v), guard=guard)
    try:
        for event in events:
            before = diagnoser.evaluations
            if event.is_epoch:
                diagnoser.epoch_reported(event.history)
            else:
                diagnoser.early_seen(event.history)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and (
                any(not q.empty() for q in diagnoser._queues)
                or diagnoser.evaluations + len(found) < before + 1
            ):
                time.sleep(0.005)
            time.sleep(0.05)  # the last rule's check returns
            if found:
                return key(min(found, key=lambda v: order.index(v.indicator)))
    finally:
        diagnoser.close()
    return None


class Replayer:
    """Stands in for a Watcher: each end_epoch returns the next recorded epoch's history."""

    def __init__(self, events: list[ReplayEvent]) -> None:
        self._epochs = [e.history for e in events if e.is_epoch]
        self._next = 0
        self.nonfinite_seen = 0

    def end_epoch(self, epoch: int, **metrics: float) -> TrialHistory:
        self._next += 1
        return self.history

    @property
    def history(self) -> TrialHistory:
        return self._epochs[max(0, self._next - 1)]

    def next_metrics(self) -> dict[str, float]:
        """What the training reports at the end of the next epoch."""
        return dict(self._epochs[self._next].epochs[-1].metrics)

    def close(self) -> None:
        pass


def epoch_count(events: list[ReplayEvent]) -> int:
    return sum(e.is_epoch for e in events)


def optuna_verdict(events: list[ReplayEvent], tmp_path: Path) -> tuple[str, int, str] | None:
    optuna = pytest.importorskip("optuna")
    from bttackler.integrations.optuna import BTTacklerPruner

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=storage, direction="maximize", pruner=BTTacklerPruner())
    first = events[0].history

    def objective(trial: Any) -> float:
        monitor = BTTacklerPruner.watch(trial, nn.Linear(2, 2), objective="val_acc",
                                        max_epochs=first.max_epochs,
                                        chance_loss=first.chance_loss)  # fmt: skip
        monitor.watcher.close()
        replayer = Replayer(events)
        monitor.watcher = replayer  # type: ignore[assignment]
        for epoch in range(epoch_count(events)):
            monitor.report(epoch, **replayer.next_metrics())
            if trial.should_prune():
                raise optuna.TrialPruned(monitor.reason)
        return 0.0

    study.optimize(objective, n_trials=1)
    (trial,) = study.trials
    if trial.state != optuna.trial.TrialState.PRUNED:
        return None
    attrs = trial.user_attrs  # the verdict's, written by the pruner
    return attrs["bttackler_indicator"], attrs["bttackler_epoch"], attrs["bttackler_rule"]


def lightning_verdict(events: list[ReplayEvent]) -> tuple[str, int, str] | None:
    pl = pytest.importorskip("lightning.pytorch")
    from bttackler.integrations.lightning import BTTacklerCallback

    class Recorded(BTTacklerCallback):
        def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
            super().on_fit_start(trainer, pl_module)
            assert self.watcher is not None
            self.watcher.close()
            self.watcher = Replayer(events)  # type: ignore[assignment]

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(2, 2)

        def training_step(self, batch: Any, index: int) -> torch.Tensor:
            loss = nn.functional.cross_entropy(self.net(batch[0]), batch[1])
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    first = events[0].history
    callback = Recorded(max_epochs=first.max_epochs, chance_loss=first.chance_loss)
    data = torch.utils.data.TensorDataset(torch.randn(8, 2), torch.randint(0, 2, (8,)))
    trainer = pl.Trainer(max_epochs=epoch_count(events), callbacks=[callback], logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, accelerator="cpu")  # fmt: skip
    trainer.fit(Tiny(), torch.utils.data.DataLoader(data, batch_size=4))
    if callback.verdict is not None:
        assert trainer.should_stop
    return key(callback.verdict)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_judge_gives_the_recorded_history_one_verdict(name: str, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    events = recorded_events(name)
    expected = replay_verdict(events)
    assert (None if expected is None else expected[:2]) == EXPECTED[name]
    assert judge_verdict(events) == expected
    assert diagnoser_verdict(events) == expected
    assert optuna_verdict(events, tmp_path) == expected
    assert lightning_verdict(events) == expected
    assert math.isfinite(events[0].history.chance_loss)
