"""Successive halving as early-termination rules: ASHA and Hyperband, as Optuna runs them.

* :class:`SuccessiveHalving` (``--etr asha``, Optuna's ``SuccessiveHalvingPruner`` with its
  defaults: ``min_resource`` 1, ``reduction_factor`` 4, ``min_early_stopping_rate`` 0).
  Rung ``r`` is at epoch count ``min_resource x reduction_factor ** (min_early_stopping_rate
  + r)`` (1, 4, 16, ...). A trial reaching a rung is compared with every trial that reached it
  before (running, finished or stopped: the asynchronous variant waits for no one): it goes on
  when its objective there is among the best ``1 / reduction_factor`` of them
  (:func:`promotable`), else it is stopped.
* :class:`Hyperband` (``--etr hyperband``, Optuna's ``HyperbandPruner``: ``reduction_factor``
  3): ``floor(log_rf(max_epochs / min_resource)) + 1`` brackets, bracket ``b`` a successive
  halving with ``min_early_stopping_rate = b``; each trial belongs to one bracket, chosen from
  its id by a checksum weighted by the brackets' budgets (:func:`bracket_of`), and competes
  only with its bracket's trials.

Counting is the records of a history (``len(history.epochs)``), as for every rule; a rung at
or past the trial's planned last epoch saves nothing and gives no verdict. A NaN objective at
a rung stops the trial (Optuna prunes a NaN value); other trials' NaN values do not compete.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from bttackler.core.history import TrialHistory
from bttackler.core.objective import Mode
from bttackler.core.verdict import Verdict, fmt
from bttackler.diagnosis.etr._rules import check_objective
from bttackler.diagnosis.settings_table import check_int_at_least, settings_or_default

COHORT_ALL = "all"  # these rules compare with every trial that reached the rung


@dataclass(frozen=True, kw_only=True)
class SuccessiveHalvingSettings:
    """Settings of :class:`SuccessiveHalving`; the defaults are Optuna's (``min_resource`` 1
    rather than its ``"auto"``).

    Attributes:
        min_resource: Epochs before the first rung (at least 1).
        reduction_factor: Keep the best ``1 / reduction_factor`` at each rung (at least 2).
        min_early_stopping_rate: Skips the first rungs: rung 0 is at ``min_resource x
            reduction_factor ** min_early_stopping_rate`` epochs.
        bootstrap_count: Trials that must have reached a rung before any is kept there
            (Optuna's: until then a trial reaching the rung is stopped). 0: none.
    """

    min_resource: int = 1
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0

    def __post_init__(self) -> None:
        check_int_at_least("min_resource", self.min_resource, 1)
        check_int_at_least("reduction_factor", self.reduction_factor, 2)
        check_int_at_least("min_early_stopping_rate", self.min_early_stopping_rate, 0)
        check_int_at_least("bootstrap_count", self.bootstrap_count, 0)


@dataclass(frozen=True, kw_only=True)
class HyperbandSettings:
    """Settings of :class:`Hyperband`; the defaults are Optuna's (``min_resource`` 1; the
    maximum resource is the trial's planned epochs).

    Attributes:
        min_resource: Epochs before the first rung of bracket 0 (at least 1).
        reduction_factor: As for successive halving (at least 2). Default 3.
        bootstrap_count: As for successive halving.
    """

    min_resource: int = 1
    reduction_factor: int = 3
    bootstrap_count: int = 0

    def __post_init__(self) -> None:
        check_int_at_least("min_resource", self.min_resource, 1)
        check_int_at_least("reduction_factor", self.reduction_factor, 2)
        check_int_at_least("bootstrap_count", self.bootstrap_count, 0)


S = TypeVar("S", "SuccessiveHalvingSettings", "HyperbandSettings")


def rung_of(count: int, min_resource: int, reduction_factor: int, rate: int) -> int | None:
    """The rung whose epoch count is ``count`` (``min_resource x reduction_factor ** (rate +
    r)``), or None when ``count`` is no rung's."""
    step, rung = min_resource * reduction_factor**rate, 0
    while step < count:
        step *= reduction_factor
        rung += 1
    return rung if step == count else None


def promotable(
    value: float, competing: Sequence[float], reduction_factor: int, mode: Mode | str
) -> bool:
    """Optuna's promotion test: ``value`` (one of ``competing``) is at least the
    ``len(competing) // reduction_factor``-th best; with fewer than ``reduction_factor``
    competitors it must be the best of them."""
    bar = promotion_bar(competing, reduction_factor, mode)
    return Mode.of(mode).at_least(value, bar)


def promotion_bar(competing: Sequence[float], reduction_factor: int, mode: Mode | str) -> float:
    """The value a trial needs to be :func:`promotable` among ``competing``."""
    index = max(len(competing) // reduction_factor - 1, 0)
    return Mode.of(mode).ranked(competing)[index]


def _halving_verdict(
    history: TrialHistory,
    cohort: Sequence[TrialHistory],
    *,
    name: str,
    objective: str,
    mode: Mode,
    min_resource: int,
    reduction_factor: int,
    rate: int,
    bootstrap_count: int,
    where: str = "",
) -> Verdict | None:
    """Successive halving's judgement of ``history`` against ``cohort`` (module docstring)."""
    count = len(history.epochs)
    if count == 0 or count >= history.max_epochs:
        return None
    rung = rung_of(count, min_resource, reduction_factor, rate)
    if rung is None:
        return None
    value = history.metric(objective)[count - 1]
    others = [
        h.metric(objective)[count - 1]
        for h in cohort
        if h.trial_id != history.trial_id and len(h.epochs) >= count
    ]
    competing = [v for v in others if not math.isnan(v)] + [value]
    at = f"rung {rung}{where} (epoch {count})"
    values = {"rung": float(rung), "value": value, "reached": float(len(competing))}
    if math.isnan(value):
        rule = f"NaN {objective} at {at}"
    elif len(competing) <= bootstrap_count:
        rule = f"{at} reached by {len(competing)} trials, fewer than bootstrap_count"
    elif not promotable(value, competing, reduction_factor, mode):
        bar = promotion_bar(competing, reduction_factor, mode)
        sign = "<" if mode is Mode.MAX else ">"
        kept = max(len(competing) // reduction_factor, 1)
        rule = (
            f"{objective} {fmt(value)} {sign} {fmt(bar)} at {at}: not among the best {kept} of "
            f"{len(competing)} trials there (1/{reduction_factor} go on)"
        )
        values["bar"] = bar
    else:
        return None
    return Verdict(indicator=name, rule=rule, epoch=history.epochs[-1].epoch, values=values)


class _HalvingRule(Generic[S]):
    """What ASHA and Hyperband share: settings, objective, direction; every trial as cohort."""

    short_name: ClassVar[str]
    cohort: ClassVar[str] = COHORT_ALL
    settings_type: ClassVar[type]

    def __init__(self, settings: S | None = None, *, objective: str, mode: Mode | str) -> None:
        check_objective(objective, mode)
        self.settings: S = settings_or_default(settings, self.settings_type, self.short_name)
        self.objective = objective
        self.mode = Mode(mode)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings!r}, objective={self.objective!r})"


class SuccessiveHalving(_HalvingRule[SuccessiveHalvingSettings]):
    """ASHA: asynchronous successive halving (module docstring), Optuna's defaults."""

    short_name = "ASHA"
    settings_type = SuccessiveHalvingSettings

    def check(self, history: TrialHistory, cohort: Sequence[TrialHistory]) -> Verdict | None:
        """The verdict on ``history`` at a rung, against every trial that reached it."""
        s = self.settings
        return _halving_verdict(
            history, cohort, name=self.short_name, objective=self.objective, mode=self.mode,
            min_resource=s.min_resource, reduction_factor=s.reduction_factor,
            rate=s.min_early_stopping_rate, bootstrap_count=s.bootstrap_count,
        )  # fmt: skip


def bracket_budgets(max_epochs: int, min_resource: int, reduction_factor: int) -> tuple[int, ...]:
    """Each bracket's share of trials (Optuna's allocation): ``n_brackets = floor(log_rf(
    max_epochs / min_resource)) + 1``; bracket ``b`` with ``s = n_brackets - 1 - b`` gets
    ``ceil(n_brackets x rf ** s / (s + 1))``."""
    ratio = max(max_epochs / min_resource, 1.0)
    # the epsilon keeps log_3(9) = 1.9999999999999998 at 2
    n = math.floor(math.log(ratio, reduction_factor) + 1e-9) + 1
    return tuple(math.ceil(n * reduction_factor ** (n - 1 - b) / (n - b)) for b in range(n))


@functools.lru_cache(maxsize=1 << 16)
def bracket_of(trial_id: int, budgets: tuple[int, ...]) -> int:
    """The bracket of trial ``trial_id``: a CRC32 of its id modulo the total budget, walked
    through the brackets' budgets (deterministic, process-independent). Remembered: every
    check sorts the whole cohort into brackets."""
    n = zlib.crc32(str(trial_id).encode()) % sum(budgets)
    for bracket, budget in enumerate(budgets):
        n -= budget
        if n < 0:
            return bracket
    return len(budgets) - 1  # unreachable: n < sum(budgets)


class Hyperband(_HalvingRule[HyperbandSettings]):
    """Hyperband as Optuna's ``HyperbandPruner`` runs it (module docstring)."""

    short_name = "HB"
    settings_type = HyperbandSettings

    def check(self, history: TrialHistory, cohort: Sequence[TrialHistory]) -> Verdict | None:
        """The verdict on ``history`` at a rung of its bracket, against that bracket's trials."""
        s = self.settings
        budgets = bracket_budgets(history.max_epochs, s.min_resource, s.reduction_factor)
        bracket = bracket_of(history.trial_id, budgets)
        same = [h for h in cohort if bracket_of(h.trial_id, budgets) == bracket]
        return _halving_verdict(
            history, same, name=self.short_name, objective=self.objective, mode=self.mode,
            min_resource=s.min_resource, reduction_factor=s.reduction_factor, rate=bracket,
            bootstrap_count=s.bootstrap_count, where=f" of bracket {bracket}",
        )  # fmt: skip
