"""BTTacklerCallback with a real lightning Trainer on a tiny CPU model: a NaN-producing
learning rate is stopped by AGV (the reason logged), a healthy one runs every epoch."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

pytest.importorskip("lightning")
import lightning.pytorch as pl  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import diagnosis_task as task  # noqa: E402

from bttackler.integrations.lightning import BTTacklerCallback  # noqa: E402

EPOCHS = 6


class Tiny(pl.LightningModule):
    def __init__(self, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self.net = task._mlp(width=32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, ...], index: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, ...], index: int) -> None:
        x, y = batch
        self.log("val_acc", (self(x).argmax(1) == y).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def _loaders() -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    x, y, x_val, y_val = task._data()
    train = torch.utils.data.TensorDataset(x, y)
    val = torch.utils.data.TensorDataset(x_val, y_val)
    return (
        torch.utils.data.DataLoader(train, batch_size=64, shuffle=True),
        torch.utils.data.DataLoader(val, batch_size=256),
    )


def _fit(lr: float, logger: object) -> tuple[BTTacklerCallback, pl.Trainer]:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    callback = BTTacklerCallback()
    trainer = pl.Trainer(
        max_epochs=EPOCHS,
        callbacks=[callback],
        logger=logger,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        accelerator="cpu",
    )
    trainer.fit(Tiny(lr), *_loaders())
    return callback, trainer


def test_nan_training_is_stopped_by_agv_with_the_reason_logged(tmp_path: Path) -> None:
    logger = pl.loggers.CSVLogger(tmp_path, name="run")
    callback, trainer = _fit(1e6, logger)
    assert callback.verdict is not None and callback.verdict.indicator == "AGV"
    assert callback.reason is not None and callback.reason.startswith("AGV at epoch 1")
    assert trainer.should_stop and trainer.current_epoch < EPOCHS - 1
    with open(Path(logger.log_dir) / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert any(row.get("bttackler/AGV") == "1.0" and row["bttackler/stop"] == "1.0" for row in rows)


def test_healthy_training_runs_every_epoch() -> None:
    callback, trainer = _fit(0.1, False)
    assert callback.verdict is None and callback.reason is None
    assert trainer.current_epoch == EPOCHS
    assert callback.watcher is not None and len(callback.watcher.history.epochs) == EPOCHS
    assert callback.judge.errors == []


@pytest.mark.parametrize("lr", [1e6, 0.1])
def test_inside_an_optuna_objective_a_verdict_prunes_the_trial(lr: float) -> None:
    optuna = pytest.importorskip("optuna")
    study = optuna.create_study(direction="maximize")

    def objective(trial: object) -> float:
        torch.manual_seed(0)
        callback = BTTacklerCallback(trial=trial, objective="val_acc")
        trainer = pl.Trainer(
            max_epochs=EPOCHS,
            callbacks=[callback],
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            accelerator="cpu",
        )
        trainer.fit(Tiny(lr), *_loaders())
        return float(trainer.callback_metrics["val_acc"])

    study.optimize(objective, n_trials=1)
    (trial,) = study.trials
    if lr > 1:
        assert trial.state == optuna.trial.TrialState.PRUNED
        assert trial.user_attrs["bttackler_indicator"] == "AGV"
    else:  # the objective was reported every epoch (validation runs before the epoch ends)
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert sorted(trial.intermediate_values) == list(range(EPOCHS))
