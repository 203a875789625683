"""An Optuna pruner that stops trials with a training problem, and says why.

Add it to a study as any pruner; in the objective, watch the model and report each epoch
through the monitor instead of ``trial.report``::

    study = optuna.create_study(direction="maximize", pruner=BTTacklerPruner())

    def objective(trial):
        model = ...
        monitor = BTTacklerPruner.watch(trial, model, objective="val_acc", max_epochs=20)
        for epoch in range(20):
            ...
            monitor.report(epoch, train_loss=train_loss, val_acc=val_acc)  # + trial.report
            if trial.should_prune():
                raise optuna.TrialPruned(monitor.reason)
        return val_acc

Where things happen: the probe measures per-layer statistics in the objective's own process
(thread) and the indicators judge them there, at ``monitor.report``; its verdict, and each
epoch's training loss (the only number the guard needs from other trials), go to the study's
storage as trial system attributes. So it works with ``n_jobs > 1``, with processes sharing
an RDB storage (a SQLite file) and with ``JournalStorage``. ``trial.should_prune()`` asks the
pruner, which prunes on the stored verdict, or when the wrapped pruner says so.

A pruned trial records why as user attributes (``study.trials_dataframe()``'s
``user_attrs_bttackler_*`` columns, optuna-dashboard): ``bttackler_indicator``,
``bttackler_rule`` (the rule with its numbers), ``bttackler_epoch``, ``bttackler_benign``
(True for NMG: converged, not bad) and ``bttackler_reason`` (one line); a trial pruned by the
wrapped pruner gets ``bttackler_pruned_by`` (its class name).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

try:
    import optuna
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "bttackler.integrations.optuna needs Optuna: pip install 'bttackler[optuna]'"
    ) from exc

from bttackler.core.verdict import Verdict
from bttackler.integrations.api import ConfigLike, Judge, Watcher, reason

__all__ = ["BTTacklerPruner", "TrialMonitor", "record_verdict"]

VERDICT_KEY = "bttackler:verdict"
_LOSS_KEY = "bttackler:{metric}:{count}"  # the guard's loss after ``count`` epochs


class BTTacklerPruner(optuna.pruners.BasePruner):
    """Prunes a trial its :class:`TrialMonitor` found a verdict for, or that ``wrapped`` prunes.

    Args:
        wrapped: another pruner (``MedianPruner()``...): the trial is pruned when either says
            so. ``None``: the indicators alone.
        config: the indicators and guard (see :class:`~bttackler.integrations.api.Judge`);
            the monitors of this study's trials use it.
        prune_benign: also prune on benign verdicts (NMG: converged, no more gain). Optuna
            counts a pruned trial's last reported value for the sampler, but not as the
            study's best: set False to let converged trials complete instead.
    """

    def __init__(
        self,
        wrapped: optuna.pruners.BasePruner | None = None,
        *,
        config: ConfigLike = None,
        prune_benign: bool = True,
    ) -> None:
        self.wrapped = wrapped
        self.config = config
        self.prune_benign = prune_benign
        Judge(config)  # a bad configuration fails here, not in the first trial

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        """Optuna's question, asked by ``trial.should_prune()`` after the last report."""
        data = trial.system_attrs.get(VERDICT_KEY)
        verdict = Verdict.from_dict(_from_json(data)) if isinstance(data, Mapping) else None
        if verdict is not None and (self.prune_benign or not verdict.benign):
            record_verdict(study, trial._trial_id, verdict)
            return True
        if self.wrapped is not None and self.wrapped.prune(study, trial):
            study._storage.set_trial_user_attr(
                trial._trial_id, "bttackler_pruned_by", type(self.wrapped).__name__
            )
            return True
        return False

    @staticmethod
    def watch(
        trial: optuna.Trial,
        model: Any,
        *,
        objective: str,
        max_epochs: int,
        chance_loss: float = math.nan,
        config: ConfigLike = None,
    ) -> TrialMonitor:
        """Watch ``model`` for ``trial``: see :class:`TrialMonitor` (the configuration is the
        study's ``BTTacklerPruner``'s when it has one, else ``config``)."""
        pruner = trial.study.pruner
        if isinstance(pruner, BTTacklerPruner) and config is None:
            config = pruner.config
        return TrialMonitor(
            trial,
            model,
            objective=objective,
            max_epochs=max_epochs,
            chance_loss=chance_loss,
            config=config,
        )


class TrialMonitor:
    """One Optuna trial's watcher and judge (make it with :meth:`BTTacklerPruner.watch`).

    Args:
        trial: the running trial.
        model: the ``torch.nn.Module`` it trains (hooked now, unhooked by :meth:`close`).
        objective: the reported metric that is the trial's value (``trial.report``'s).
        max_epochs: the epochs the objective trains (the indicators' stages follow it).
        chance_loss: the loss of a model that learned nothing (``math.log(10)``: 10 classes).
        config: the indicators and guard (:class:`~bttackler.integrations.api.Judge`).
    """

    def __init__(
        self,
        trial: optuna.Trial,
        model: Any,
        *,
        objective: str,
        max_epochs: int,
        chance_loss: float = math.nan,
        config: ConfigLike = None,
    ) -> None:
        self.trial = trial
        self.objective = objective
        self.judge = Judge(config)
        self.watcher = Watcher(
            model,
            max_epochs=max_epochs,
            chance_loss=chance_loss,
            params=dict(trial.params),
            trial_id=trial.number,
            seed=trial.number,
        )
        self.verdict: Verdict | None = None

    @property
    def reason(self) -> str | None:
        """Why the trial should stop (one line), or None."""
        return None if self.verdict is None else reason(self.verdict)

    def report(self, epoch: int, **metrics: float) -> Verdict | None:
        """Close ``epoch``: judge it, store the verdict and the guard's loss for the pruner
        and the other trials, and ``trial.report(metrics[objective], epoch)``.

        Returns:
            The verdict (the first one sticks), or None. ``trial.should_prune()`` acts on it.
        """
        if self.objective not in metrics:
            raise KeyError(f"TrialMonitor.report: the objective {self.objective!r} is missing")
        history = self.watcher.end_epoch(epoch, **metrics)
        if self.verdict is None:
            cohort = self._share_loss(history.epochs[-1].metrics, len(history.epochs))
            self.verdict = self.judge.judge(history, cohort)
            if self.verdict is not None:
                self._storage.set_trial_system_attr(
                    self.trial._trial_id, VERDICT_KEY, _to_json(self.verdict.to_dict())
                )
        self.trial.report(float(metrics[self.objective]), epoch)
        return self.verdict

    @property
    def _storage(self) -> optuna.storages.BaseStorage:
        return self.trial.study._storage

    def _share_loss(self, metrics: Mapping[str, float], count: int) -> list[float]:
        """Store this trial's guard loss after ``count`` epochs; every trial's, this one's
        included, as the guard's cohort."""
        metric = self.judge.guard.settings.loss_metric
        key = _LOSS_KEY.format(metric=metric, count=count)
        loss = float(metrics.get(metric, math.nan))
        self._storage.set_trial_system_attr(
            self.trial._trial_id, key, loss if math.isfinite(loss) else None
        )
        cohort = []
        for other in self.trial.study.get_trials(deepcopy=False):
            if other._trial_id == self.trial._trial_id:
                cohort.append(loss)
            elif key in other.system_attrs:
                value = other.system_attrs[key]
                cohort.append(math.nan if value is None else float(value))
        return cohort

    def close(self) -> None:
        """Unhook the model (the trial's history stays in :attr:`watcher`)."""
        self.watcher.close()

    def __enter__(self) -> TrialMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def record_verdict(study: optuna.Study, trial_id: int, verdict: Verdict) -> None:
    """Write why the trial stops as its user attributes (the module docstring lists them)."""
    storage = study._storage
    attrs: dict[str, Any] = {
        "bttackler_indicator": verdict.indicator,
        "bttackler_rule": verdict.rule,
        "bttackler_epoch": verdict.epoch,
        "bttackler_benign": verdict.benign,
        "bttackler_reason": reason(verdict),
    }
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)


def _to_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """A verdict's dict with non-finite numbers as strings (storages write strict JSON)."""
    values = {k: v if math.isfinite(v) else repr(v) for k, v in data["values"].items()}
    return {**data, "values": values}


def _from_json(data: Mapping[str, Any]) -> dict[str, Any]:
    values: Sequence[tuple[str, Any]] = list(dict(data.get("values", {})).items())
    return {**data, "values": {k: float(v) for k, v in values}}
