"""Comparison measures of the paper (section 3.4) as pure functions of run data; the Tables
2-5 built from them over repeats are in :mod:`bttackler.analysis.paper_tables`.

Which trials count, and with what value and time (applied identically to every arm):

* A trial's **time** is when its value became known: its ``ended`` (seconds since the run
  started). Trials that ended after the run's budget do not count.
* ``finished`` and ``terminated`` trials count; ``failed``, ``stopped`` and ``interrupted`` ones
  do not, nor does a trial whose counted value is missing or not finite (NaN, inf).
* Their **value** is the one the :class:`~bttackler.core.objective.CountRule` picks, the same
  for every trial of every arm whatever stopped it: ``last`` (the default) its last reported
  value, as the paper counts every early-terminated trial, NMG included (section 3.3, NNI's
  rule: "the last evaluation represents the model's performance"); ``best`` its best epoch's.
  Every function that counts takes the rule as its ``count`` argument.

Ties (small validation sets give many equal values) are split, never broken by arm: trials
tied across the top-10 boundary share the remaining places in proportion to their number, so
``Top10HR(i, j) + Top10HR(j, i) == 100%`` always holds and neither arm is favoured.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from bttackler.core.errors import BttacklerError
from bttackler.core.objective import CountRule, Mode
from bttackler.core.run_context import RunContext
from bttackler.core.store import ReadOnlyStore, Store, TrialRow
from bttackler.core.trial_state import RANKED, TrialState

TOP_K = 10


@dataclass(frozen=True)
class Scored:
    """A counted trial: its id, the value it counts with and when that value became known."""

    trial_id: int
    value: float
    time: float


@dataclass(frozen=True)
class RunData:
    """Everything the metrics read from one run, loaded once from its store."""

    name: str
    path: Path
    meta: Mapping[str, Any]
    trials: tuple[TrialRow, ...]
    budget: float | None
    verdicts: tuple[Mapping[str, Any], ...] = field(default=())

    @classmethod
    def of(
        cls,
        path: Path,
        meta: Mapping[str, Any],
        trials: tuple[TrialRow, ...],
        verdicts: tuple[Mapping[str, Any], ...],
    ) -> RunData:
        """The run at ``path`` from what its store holds (the budget read from ``meta``)."""
        budget = meta.get("budget")
        return cls(
            name=path.name,
            path=path,
            meta=meta,
            trials=trials,
            budget=float(budget) if isinstance(budget, int | float) else None,
            verdicts=verdicts,
        )

    @property
    def context(self) -> RunContext:
        """Objective, direction and epochs, read from ``meta`` by the one parser."""
        return RunContext.from_meta(self.meta, where=f"run {self.name}: mode")

    @property
    def mode(self) -> Mode:
        return self.context.mode

    @property
    def objective(self) -> str:
        return self.context.objective or "objective"

    def scored(self, count: CountRule) -> list[Scored]:
        """The run's counted trials within its budget, valued by ``count``."""
        return counted_trials(self.trials, count, budget=self.budget)


def load_run(path: Path) -> RunData:
    """Read a run directory's store (read-only use).

    Raises:
        BttacklerError: ``path`` holds no bttackler store.
    """
    if not (path / Store.FILENAME).is_file():
        raise BttacklerError(f"{path} is not a bttackler run (no {Store.FILENAME})")
    store = ReadOnlyStore.open(path)
    try:
        meta = store.meta()
        trials = tuple(store.trials())
        verdicts = tuple(store.verdicts())
    finally:
        store.close()
    return RunData.of(path, meta, trials, verdicts)


# ---------------------------------------------------------------- which trials count
def counted_value(row: TrialRow, count: CountRule) -> float | None:
    """The value ``row`` counts with under ``count``, or ``None`` when it does not count
    (module docstring)."""
    if row.state not in RANKED or row.ended is None:
        return None
    value = count.pick(row.value, row.best_value)
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def counted_trials(
    rows: Iterable[TrialRow], count: CountRule, *, budget: float | None = None
) -> list[Scored]:
    """The counted trials of a run in the order their values became known (then by id).

    Args:
        rows: The run's trials.
        count: Which of each trial's values counts.
        budget: Seconds; trials that ended later do not count. ``None``: no cut.
    """
    scored = []
    for row in rows:
        value = counted_value(row, count)
        if value is None or row.ended is None:
            continue
        if budget is not None and row.ended > budget + 1e-9:
            continue
        scored.append(Scored(row.id, value, float(row.ended)))
    scored.sort(key=lambda s: (s.time, s.trial_id))
    return scored


def _check_mode(mode: Mode | str) -> Mode:
    """``mode`` as a :class:`Mode`; ValueError for anything else."""
    try:
        return Mode(mode)
    except ValueError:
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}") from None


# ---------------------------------------------------------------- Table 2
def top_k_mean(values: Sequence[float], mode: Mode | str, k: int = TOP_K) -> float | None:
    """Mean of the best ``min(k, len(values))`` values; ``None`` for no values."""
    direction = _check_mode(mode)
    if not values:
        return None
    best = direction.ranked(values)[:k]
    return sum(best) / len(best)


def top1(values: Sequence[float], mode: Mode | str) -> float | None:
    direction = _check_mode(mode)
    return direction.ranked(values)[0] if values else None


def top10_hits(
    values_i: Sequence[float], values_j: Sequence[float], mode: Mode | str, k: int = TOP_K
) -> float | None:
    """``K_i``: how many of the top ``k`` of the union of both runs' values belong to run i.

    The top is ``min(k, |union|)`` places. Trials tied with the value at the last place share
    the places left after the strictly better ones, in proportion to their number per run, so
    ``K_i`` may be fractional (e.g. 8 strictly better, 4 tied for 2 places, 1 of them from run
    i: ``K_i`` gains 0.5) and ``K_i + K_j`` equals the number of places. ``None`` when the union
    is empty.
    """
    direction = _check_mode(mode)
    union = [(v, 0) for v in values_i] + [(v, 1) for v in values_j]
    places = min(k, len(union))
    if places == 0:
        return None
    order = direction.ranked([v for v, _ in union])
    boundary = order[places - 1]
    above_i = sum(1 for v in values_i if direction.better(v, boundary))
    above = sum(1 for v, _ in union if direction.better(v, boundary))
    tied_i = sum(1 for v in values_i if v == boundary)
    tied = sum(1 for v, _ in union if v == boundary)
    return above_i + (places - above) * tied_i / tied


def top10_hit_ratio(
    values_i: Sequence[float], values_j: Sequence[float], mode: Mode | str, k: int = TOP_K
) -> float | None:
    """Top10HR(i vs j) in percent: ``K_i / places * 100`` (:func:`top10_hits`).

    ``places`` is ``min(k, |union|)``; it is 10 whenever the two runs have 10 counted trials
    together, as in the paper. ``None`` when neither run has a counted trial.
    """
    hits = top10_hits(values_i, values_j, mode, k)
    if hits is None:
        return None
    return hits / min(k, len(values_i) + len(values_j)) * 100.0


# ---------------------------------------------------------------- Table 4
class TsbaStatus(str, Enum):
    OK = "ok"
    NOT_REACHED = "not reached"  # run i never reached the baseline's best value
    NO_BASELINE = "no baseline value"  # the baseline has no counted trial
    ZERO_TIME = "baseline time is 0"  # division by zero: undefined


@dataclass(frozen=True)
class Tsba:
    """TSBA(i vs j): ``tsba`` is a percentage only when ``status`` is ``OK``, else ``None``."""

    status: TsbaStatus
    tsba: float | None
    baseline_best: float | None  # A_j
    baseline_time: float | None  # T_j
    arm_time: float | None  # T_i

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "tsba": self.tsba,
            "baseline_best": self.baseline_best,
            "baseline_time": self.baseline_time,
            "arm_time": self.arm_time,
        }


def time_to_reach(scored: Sequence[Scored], target: float, mode: Mode | str) -> float | None:
    """Earliest time a counted trial reached a value at least as good as ``target``."""
    direction = Mode.of(mode)
    times = [s.time for s in scored if direction.at_least(s.value, target)]
    return min(times) if times else None


def tsba(arm: Sequence[Scored], baseline: Sequence[Scored], mode: Mode | str) -> Tsba:
    """Time-saving for baseline accuracy, ``(T_j - T_i) / T_j * 100``.

    ``A_j`` is the baseline's best counted value, ``T_j`` the time its first trial with that
    value ended, ``T_i`` the time the arm's first trial at least as good as ``A_j`` ended. Both
    sequences are counted trials within their runs' budgets (:func:`counted_trials`).
    Negative when the arm was slower.
    """
    mode = _check_mode(mode)
    best = top1([s.value for s in baseline], mode)
    if best is None:
        return Tsba(TsbaStatus.NO_BASELINE, None, None, None, None)
    t_j = time_to_reach(baseline, best, mode)
    t_i = time_to_reach(arm, best, mode)
    if t_i is None:
        return Tsba(TsbaStatus.NOT_REACHED, None, best, t_j, None)
    if not t_j:
        return Tsba(TsbaStatus.ZERO_TIME, None, best, t_j, t_i)
    assert t_j is not None
    return Tsba(TsbaStatus.OK, (t_j - t_i) / t_j * 100.0, best, t_j, t_i)


# ---------------------------------------------------------------- Table 3, 5 and figures
BUDGET_FRACTIONS: tuple[float, ...] = (1 / 6, 1 / 2, 1.0)


def trials_by(scored: Sequence[Scored], when: float) -> int:
    """Counted trials whose values were known by ``when``."""
    return sum(1 for s in scored if s.time <= when + 1e-9)


def increase_ratio(arm: float, baseline: float) -> float | None:
    """``(arm - baseline) / baseline * 100``; ``None`` when the baseline is 0."""
    return None if baseline == 0 else (arm - baseline) / baseline * 100.0


def terminations_by_indicator(rows: Iterable[TrialRow]) -> dict[str, int]:
    """Terminated trials per indicator (or ETR rule) that claimed them."""
    counts: dict[str, int] = {}
    for row in rows:
        if row.state == TrialState.TERMINATED.value:
            name = row.indicator or "?"
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def top_k_mean_over_time(
    scored: Sequence[Scored], mode: Mode | str, k: int = TOP_K
) -> list[tuple[float, float]]:
    """Figure 4: ``(time, mean of the best k values known by then)`` at every change, from the
    ``k``-th counted trial on (before it, a mean of fewer trials would dip and rise as trials
    come in, which says nothing about the search)."""
    points: list[tuple[float, float]] = []
    seen: list[float] = []
    for s in sorted(scored, key=lambda s: (s.time, s.trial_id)):
        seen.append(s.value)
        if len(seen) < k:
            continue
        mean = top_k_mean(seen, mode, k)
        assert mean is not None
        if points and points[-1][0] == s.time:
            points[-1] = (s.time, mean)
        else:
            points.append((s.time, mean))
    return points


def count_over_time(scored: Sequence[Scored]) -> list[tuple[float, int]]:
    """``(time, counted trials known by then)`` at every change."""
    points: list[tuple[float, int]] = []
    for n, s in enumerate(sorted(scored, key=lambda s: (s.time, s.trial_id)), start=1):
        if points and points[-1][0] == s.time:
            points[-1] = (s.time, n)
        else:
            points.append((s.time, n))
    return points
