"""The Python API: watch a model with the probe a trial uses, judge its history with the
indicators and guard ``bttackler run`` uses.

``Watcher`` assembles the probe's rows into a history with
:class:`~bttackler.core.history.HistoryBuilder`, as the run's monitor does; ``Judge`` builds
its rules with :func:`~bttackler.diagnosis.build_from_config` and spares trials with
:class:`~bttackler.diagnosis.Guard`, as the run's diagnoser does.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bttackler.core.config import deep_merge, load_config
from bttackler.core.history import HistoryBuilder, TrialHistory, metric_values
from bttackler.core.verdict import Verdict
from bttackler.diagnosis import Guard, Rule, build_from_config

ConfigLike = Mapping[str, Any] | str | Path | None


def resolve_config(config: ConfigLike) -> tuple[dict[str, Any], Path | None]:
    """The effective configuration and the folder custom-indicator paths are relative to.

    ``None``: ``bttackler.toml``'s defaults, overridden by ``./bttackler.toml`` if present (as
    ``bttackler run``); a path: that TOML file over the defaults; a mapping: its keys over the
    defaults, key by key (``{"indicators": {"enabled": ["AGV"]}}``).
    """
    if config is None:
        return load_config(), Path.cwd()
    if isinstance(config, str | Path):
        path = Path(config)
        return load_config(path), path.resolve().parent
    return deep_merge(load_config(), config), Path.cwd()


class Watcher:
    """Watches ``model`` with the probe of a ``bttackler run`` trial and keeps its history.

    Installs the per-layer hooks now (the model must be called as ``model(x)`` in training);
    call :meth:`end_epoch` after every epoch with its metrics (report ``train_loss``: the
    loss-based indicators and the guard read it). Thread-safe: the probe may report a NaN
    gradient from autograd's backward thread.

    Args:
        model: a ``torch.nn.Module``.
        max_epochs: how many epochs the training runs: the indicators' early and late stages
            are its halves (``[indicators] early_fraction``).
        chance_loss: the training loss of a model that learned nothing (``math.log(10)`` for
            cross-entropy over 10 classes); SAC judges only when it is given.
        params: the hyperparameters, kept in the history (indicators may read them).
        trial_id: the history's trial id (the guard tells trials apart by it).
        seed: seed of the probe's quantile sampling.
    """

    def __init__(
        self,
        model: Any,
        *,
        max_epochs: int,
        chance_loss: float = math.nan,
        params: Mapping[str, Any] | None = None,
        trial_id: int = 0,
        seed: int = 0,
    ) -> None:
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
            raise ValueError(f"max_epochs must be an integer >= 1, got {max_epochs!r}")
        from bttackler.trialside.probe import Probe  # imports torch: only once a model exists

        self.trial_id = trial_id
        self.max_epochs = max_epochs
        self.chance_loss = float(chance_loss)
        self.params = dict(params or {})
        self._began = time.perf_counter()
        self._lock = threading.Lock()
        self._rows: list[tuple[str, int, str, Sequence[float]]] = []
        self._builder = HistoryBuilder(
            trial_id, self.params, max_epochs, chance_loss=self.chance_loss
        )
        self._probe: Any = Probe(model, self._emit, seed=seed)

    def _emit(self, kind: str, index: int, name: str, values: Sequence[float]) -> None:
        row = [float(v) for v in values]
        with self._lock:
            if kind == "nonfinite":  # mid-epoch: numbered by the epochs recorded so far
                self._builder.add_nonfinite(int(row[2]), name, row[0], row[1])
            elif kind == "early":  # inside epoch 1 (LAR1, PLC1)
                self._builder.set_early(index, name, row)
            elif kind != "layer":
                self._rows.append((kind, index, name, row))

    def end_epoch(self, epoch: int, **metrics: float) -> TrialHistory:
        """Close ``epoch``: its per-layer statistics and ``metrics`` join the history.

        Returns:
            The history with every epoch so far, ready for :meth:`Judge.judge`.

        Raises:
            TypeError: a metric is not a number (NaN and inf are fine: they are symptoms).
            RuntimeError: the watcher was closed.
        """
        if self._probe is None:
            raise RuntimeError("Watcher.end_epoch: the watcher is closed")
        clean = metric_values(metrics, caller="Watcher.end_epoch")
        self._probe.flush(epoch)
        with self._lock:
            rows, self._rows = self._rows, []
            when = time.perf_counter() - self._began
            self._builder.close_epoch(epoch, clean, rows, time=when)
        return self.history

    @property
    def history(self) -> TrialHistory:
        """Every epoch recorded so far, and the NaN/Inf gradients seen within epochs."""
        with self._lock:
            return self._builder.history()

    @property
    def nonfinite_seen(self) -> int:
        """How many NaN/Inf gradient alarms the probe raised so far (judge again when it grows)."""
        with self._lock:
            return len(self._builder.nonfinite)

    @property
    def layers(self) -> list[tuple[int, str, str]]:
        """``(index, name, module type)`` of every watched layer, in forward order."""
        return [] if self._probe is None else self._probe.layers

    def close(self) -> None:
        """Remove the hooks from the model; the history stays readable. Idempotent."""
        if self._probe is not None:
            self._probe.close()
            self._probe = None

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Judge:
    """The configured quality indicators and guard, judging one history at a time.

    Args:
        config: ``None`` (``bttackler.toml``'s defaults and ``./bttackler.toml``, as
            ``bttackler run``), a TOML file's path, or a mapping over the defaults, e.g.
            ``{"indicators": {"enabled": ["AGV", "NMG"]}}``.

    Raises:
        BttacklerError: the configuration is invalid (one line naming the key).
    """

    def __init__(self, config: ConfigLike = None) -> None:
        self.config, base_dir = resolve_config(config)
        indicators, guard = build_from_config(self.config, base_dir=base_dir)
        self.rules: list[Rule] = list(indicators)
        self.guard = Guard(guard)
        self.errors: list[str] = []  # a rule that raised (the others still judged)

    @property
    def indicators(self) -> list[str]:
        """Short names of the rules, in the order they judge."""
        return [rule.short_name for rule in self.rules]

    def verdicts(
        self, history: TrialHistory, cohort_losses: Sequence[float] | None = None
    ) -> list[Verdict]:
        """Every indicator's verdict on ``history`` (empty: nothing wrong).

        Args:
            history: a trial's history (:attr:`Watcher.history`).
            cohort_losses: for the guard, the training loss of every trial that reached
                ``len(history.epochs)`` epochs, this one included. ``None``: the judge keeps
                the cohort itself from the histories it is given (one process).
        """
        if cohort_losses is None:
            self.guard.record(history)
        protected: bool | None = None
        found = []
        for rule in self.rules:
            try:
                if rule.guarded:
                    if protected is None:
                        protected = self.guard.protects(history, cohort_losses)
                    if protected:
                        continue
                verdict = rule.check(history)
            except Exception as exc:  # contained, as in the diagnoser
                self.errors.append(f"{rule.short_name}: {type(exc).__name__}: {exc}")
                continue
            if verdict is not None:
                found.append(verdict)
        return found

    def judge(
        self, history: TrialHistory, cohort_losses: Sequence[float] | None = None
    ) -> Verdict | None:
        """The verdict that stops ``history``'s trial, or None to let it train on.

        The first problem verdict in the configured order, else the first benign one (NMG:
        converged). Arguments as :meth:`verdicts`.
        """
        return self.pick(self.verdicts(history, cohort_losses))

    @staticmethod
    def pick(verdicts: Sequence[Verdict]) -> Verdict | None:
        """The verdict that acts among ``verdicts``: the first problem, else the first benign."""
        first = [v for v in verdicts if not v.benign] or list(verdicts)
        return first[0] if first else None


def reason(verdict: Verdict) -> str:
    """One line saying why a trial stops: ``AGV at epoch 0: NaN gradients in fc1``."""
    kind = " (converged: benign)" if verdict.benign else ""
    return f"{verdict.indicator} at epoch {verdict.epoch}{kind}: {verdict.rule}"
