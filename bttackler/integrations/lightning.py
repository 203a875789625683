"""A Lightning callback that judges every epoch and stops a trial with a training problem.

::

    trainer = lightning.pytorch.Trainer(max_epochs=20, callbacks=[BTTacklerCallback()])
    trainer.fit(module, train_loader, val_loader)
    print(callback.reason)  # None, or why training stopped

The callback watches the ``LightningModule`` with the probe of a ``bttackler run`` trial
(:class:`~bttackler.integrations.api.Watcher`), and at the end of every training epoch judges
its history with the configured indicators and guard
(:class:`~bttackler.integrations.api.Judge`). The epoch's metrics are the trainer's
``callback_metrics`` (what the module logged with ``self.log``); the training loss is the one
logged as ``loss_key`` (default ``"train_loss"``; with ``on_epoch=True`` its epoch mean). A NaN
or Inf gradient seen mid-epoch is judged at once.

Every judged epoch logs to the trainer's loggers ``bttackler/stop`` (1 when the callback stops
training) and ``bttackler/<INDICATOR>`` = 1 for each indicator that fired. On a verdict it
sets ``trainer.should_stop`` and keeps :attr:`BTTacklerCallback.verdict` and ``.reason``; given
an Optuna ``trial`` it reports the objective every epoch and raises ``optuna.TrialPruned``
with the reason instead (its user attributes say why, as with ``BTTacklerPruner``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

try:
    import lightning.pytorch as pl
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "bttackler.integrations.lightning needs Lightning: pip install 'bttackler[lightning]'"
    ) from exc

from bttackler.core.verdict import Verdict
from bttackler.integrations.api import ConfigLike, Judge, Watcher, reason

__all__ = ["BTTacklerCallback"]


class BTTacklerCallback(pl.Callback):
    """Judges each training epoch of a ``Trainer.fit`` and stops it on a verdict.

    Args:
        config: the indicators and guard (:class:`~bttackler.integrations.api.Judge`).
        loss_key: the logged metric that is the training loss.
        max_epochs: the epochs the indicators' stages follow; default ``trainer.max_epochs``.
        chance_loss: the loss of a model that learned nothing (``math.log(10)``: 10 classes).
        trial: an Optuna trial: report ``objective`` to it every epoch, share the guard's loss
            through its study and raise ``optuna.TrialPruned`` on a verdict, or when the
            study's pruner prunes.
        objective: the logged metric reported to ``trial`` (needed with ``trial``).
    """

    def __init__(
        self,
        config: ConfigLike = None,
        *,
        loss_key: str = "train_loss",
        max_epochs: int | None = None,
        chance_loss: float = math.nan,
        trial: Any = None,
        objective: str | None = None,
    ) -> None:
        if trial is not None and objective is None:
            raise ValueError("BTTacklerCallback: give the objective to report to the trial")
        self.config = config
        self.loss_key = loss_key
        self.max_epochs = max_epochs
        self.chance_loss = chance_loss
        self.trial = trial
        self.objective = objective
        self.judge = Judge(config)
        self.watcher: Watcher | None = None
        self.verdict: Verdict | None = None
        self._monitor: Any = None
        self._alarms = 0

    @property
    def reason(self) -> str | None:
        """Why training was stopped (one line), or None."""
        return None if self.verdict is None else reason(self.verdict)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epochs = self.max_epochs or trainer.max_epochs
        if not epochs or epochs < 1:
            raise ValueError("BTTacklerCallback: set Trainer(max_epochs=...) or max_epochs=")
        if self.trial is not None:
            from bttackler.integrations.optuna import TrialMonitor

            self._monitor = TrialMonitor(
                self.trial,
                pl_module,
                objective=str(self.objective),
                max_epochs=int(epochs),
                chance_loss=self.chance_loss,
                config=self.config,
            )
            self.watcher = self._monitor.watcher
        else:
            self.watcher = Watcher(pl_module, max_epochs=int(epochs), chance_loss=self.chance_loss)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any
    ) -> None:
        watcher = self.watcher
        if watcher is None or self.verdict is not None or watcher.nonfinite_seen == self._alarms:
            return
        self._alarms = watcher.nonfinite_seen  # a NaN/Inf gradient: judge now
        verdict = self.judge.judge(watcher.history)
        if verdict is not None and not verdict.benign:
            self._stop(trainer, verdict, [verdict])

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.watcher is None or self.verdict is not None:
            return
        metrics = _scalars(trainer.callback_metrics)
        if self.loss_key in metrics:
            metrics["train_loss"] = metrics.pop(self.loss_key)
        epoch = trainer.current_epoch
        if self._monitor is not None:
            if self.objective not in metrics:
                raise KeyError(f"BTTacklerCallback: {self.objective!r} was not logged")
            verdict = self._monitor.report(epoch, **metrics)
            found = [verdict] if verdict is not None else []
            if verdict is None and self.trial.should_prune():
                self._log(trainer, [], stop=True)
                import optuna

                raise optuna.TrialPruned(f"pruned by the study's pruner at epoch {epoch}")
        else:
            history = self.watcher.end_epoch(epoch, **metrics)
            found = self.judge.verdicts(history)
            verdict = self.judge.pick(found)
        if verdict is not None:
            self._stop(trainer, verdict, found)
        else:
            self._log(trainer, found, stop=False)

    def _stop(self, trainer: pl.Trainer, verdict: Verdict, found: list[Verdict]) -> None:
        self.verdict = verdict
        trainer.should_stop = True
        self._log(trainer, found, stop=True)
        if self.trial is not None:
            import optuna

            from bttackler.integrations.optuna import record_verdict

            record_verdict(self.trial, verdict)
            raise optuna.TrialPruned(self.reason)

    def _log(self, trainer: pl.Trainer, found: list[Verdict], *, stop: bool) -> None:
        metrics = {"bttackler/stop": 1.0 if stop else 0.0}
        metrics.update({f"bttackler/{v.indicator}": 1.0 for v in found})
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.watcher is not None:
            self.watcher.close()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if self.watcher is not None:
            self.watcher.close()


def _scalars(metrics: Any) -> dict[str, float]:
    """The logged metrics that are numbers (0-d tensors included)."""
    out: dict[str, float] = {}
    for name, value in dict(metrics).items():
        if hasattr(value, "numel") and value.numel() == 1:
            out[name] = float(value.detach().cpu())
        elif isinstance(value, numbers.Real):
            out[name] = float(value)
    return out
