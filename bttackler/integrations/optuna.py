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
(thread) and the indicators judge them there, at ``monitor.report``. ``trial.should_prune()``
asks the pruner in that same thread, which prunes on the monitor's verdict, or when the
wrapped pruner says so. Only each epoch's training loss (the only number the guard needs from
other trials) goes through the study's storage, as the user attribute
``bttackler_guard_<loss metric>`` (the list of the trial's losses so far, ``None`` for NaN/inf).
So it works with ``n_jobs > 1``, with processes sharing an RDB storage (a SQLite file) and with
``JournalStorage``.

A pruned trial records why as user attributes (``study.trials_dataframe()``'s
``user_attrs_bttackler_*`` columns, optuna-dashboard): ``bttackler_indicator``,
``bttackler_rule`` (the rule with its numbers), ``bttackler_epoch``, ``bttackler_benign``
(True for NMG: converged, not bad) and ``bttackler_reason`` (one line); a trial pruned by the
wrapped pruner gets ``bttackler_pruned_by`` (its class name).

Only Optuna's public API is used. Optuna hands a pruner a ``FrozenTrial``, which that API
cannot write to, so the pruner writes through the live ``optuna.Trial`` instead: the one its
:class:`TrialMonitor` holds, or, for a trial without a monitor, the one :func:`should_prune`
asks for (a plain ``trial.should_prune()`` on a trial without a monitor prunes the same but
cannot record ``bttackler_pruned_by``).
"""

from __future__ import annotations

import math
import threading
import warnings
import weakref
from collections.abc import Mapping
from typing import Any

try:
    import optuna
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "bttackler.integrations.optuna needs Optuna: pip install 'bttackler[optuna]'"
    ) from exc

from bttackler.core.verdict import Verdict
from bttackler.integrations.api import ConfigLike, Judge, Watcher, reason

__all__ = ["BTTacklerPruner", "TrialMonitor", "record_verdict", "should_prune"]

# The user attributes of a trial pruned on a verdict (see verdict_attrs).
VERDICT_ATTRS = (
    "bttackler_indicator",
    "bttackler_rule",
    "bttackler_epoch",
    "bttackler_benign",
    "bttackler_reason",
)
PRUNED_BY_ATTR = "bttackler_pruned_by"
GUARD_ATTR = "bttackler_guard_{metric}"  # the guard's loss after each epoch, a list


class _Running:
    """A trial running in this process, with the live ``optuna.Trial`` to write to and the
    verdict its monitor found."""

    __slots__ = ("trial", "verdict", "__weakref__")

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self.verdict: Verdict | None = None


# The running trials the pruner can write to, by (study name, trial number): a TrialMonitor's
# (for as long as the monitor lives) or the one should_prune() asks for (during the call).
# The pruner runs in the thread that calls trial.should_prune(), so the trial is in this table.
_RUNNING: weakref.WeakValueDictionary[tuple[str, int], _Running] = weakref.WeakValueDictionary()
_RUNNING_LOCK = threading.Lock()


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
        self._warned = False
        Judge(config)  # a bad configuration fails here, not in the first trial

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        """Optuna's question, asked by ``trial.should_prune()`` after the last report."""
        with _RUNNING_LOCK:
            running = _RUNNING.get((study.study_name, trial.number))
        verdict = None if running is None else running.verdict
        if running is not None and verdict is not None:
            if self.prune_benign or not verdict.benign:
                _set_user_attrs(running.trial, verdict_attrs(verdict))
                return True
        if self.wrapped is not None and self.wrapped.prune(study, trial):
            attrs = {PRUNED_BY_ATTR: type(self.wrapped).__name__}
            if running is not None:
                _set_user_attrs(running.trial, attrs)
            elif not self._warned:
                self._warned = True
                warnings.warn(
                    f"BTTacklerPruner: trial {trial.number} was pruned by "
                    f"{attrs[PRUNED_BY_ATTR]} but has no TrialMonitor to record "
                    f"{PRUNED_BY_ATTR} with: ask bttackler.integrations.optuna.should_prune"
                    "(trial) instead of trial.should_prune() (said once per pruner)",
                    stacklevel=2,
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

    While it lives, the study's :class:`BTTacklerPruner` prunes ``trial`` on its verdict and
    writes the pruned trial's user attributes through ``trial``.

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
        self._losses: list[float | None] = []  # the guard's loss after 1, 2... epochs
        self._running = _Running(trial)
        with _RUNNING_LOCK:
            _RUNNING[(trial.study.study_name, trial.number)] = self._running

    @property
    def reason(self) -> str | None:
        """Why the trial should stop (one line), or None."""
        return None if self.verdict is None else reason(self.verdict)

    def report(self, epoch: int, **metrics: float) -> Verdict | None:
        """Close ``epoch``: judge it, share the guard's loss with the other trials (a user
        attribute), and ``trial.report(metrics[objective], epoch)``.

        Returns:
            The verdict (the first one sticks), or None. ``trial.should_prune()`` acts on it.
        """
        if self.objective not in metrics:
            raise KeyError(f"TrialMonitor.report: the objective {self.objective!r} is missing")
        history = self.watcher.end_epoch(epoch, **metrics)
        if self.verdict is None:
            cohort = self._share_loss(history.epochs[-1].metrics, len(history.epochs))
            self.verdict = self.judge.judge(history, cohort)
            self._running.verdict = self.verdict
        self.trial.report(float(metrics[self.objective]), epoch)
        return self.verdict

    def _share_loss(self, metrics: Mapping[str, float], count: int) -> list[float]:
        """Store this trial's guard loss after ``count`` epochs; every trial's, this one's
        included, as the guard's cohort."""
        metric = self.judge.guard.settings.loss_metric
        key = GUARD_ATTR.format(metric=metric)
        loss = float(metrics.get(metric, math.nan))
        del self._losses[count - 1 :]
        self._losses.extend([None] * (count - 1 - len(self._losses)))
        self._losses.append(loss if math.isfinite(loss) else None)
        self.trial.set_user_attr(key, list(self._losses))
        cohort = []
        for other in self.trial.study.get_trials(deepcopy=False):
            if other.number == self.trial.number:
                cohort.append(loss)
                continue
            losses = other.user_attrs.get(key)
            if isinstance(losses, list) and len(losses) >= count:
                value = losses[count - 1]
                cohort.append(math.nan if value is None else float(value))
        return cohort

    def close(self) -> None:
        """Unhook the model (the trial's history stays in :attr:`watcher`)."""
        self.watcher.close()

    def __enter__(self) -> TrialMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def should_prune(trial: optuna.Trial) -> bool:
    """``trial.should_prune()`` for a trial without a :class:`TrialMonitor`: the same answer,
    and a ``BTTacklerPruner`` can record ``bttackler_pruned_by`` on ``trial`` when its wrapped
    pruner prunes. (With a monitor, ``trial.should_prune()`` does that already.)"""
    key = (trial.study.study_name, trial.number)
    with _RUNNING_LOCK:
        running = _RUNNING.get(key)
        if running is None:
            running = _RUNNING[key] = _Running(trial)  # kept alive by ``running`` until return
    return trial.should_prune()


def verdict_attrs(verdict: Verdict) -> dict[str, Any]:
    """The user attributes that say why a trial stops (:data:`VERDICT_ATTRS`)."""
    values = (verdict.indicator, verdict.rule, verdict.epoch, verdict.benign, reason(verdict))
    return dict(zip(VERDICT_ATTRS, values))


def record_verdict(trial: optuna.Trial, verdict: Verdict) -> None:
    """Write why the trial stops as its user attributes (:func:`verdict_attrs`), through the
    live ``trial`` (the Lightning callback's way to say why it pruned)."""
    _set_user_attrs(trial, verdict_attrs(verdict))


def _set_user_attrs(trial: optuna.Trial, attrs: Mapping[str, Any]) -> None:
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
