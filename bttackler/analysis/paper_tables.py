"""The paper's Tables 2-5 (section 3.4) over runs and their repeats, from the measures in
:mod:`bttackler.analysis.metrics`: each cell is a mean and standard deviation over repeats,
and repeat r of an arm is compared with repeat r of the baseline. Every table that ranks or
counts trials takes the :class:`~bttackler.core.objective.CountRule` (``count``) that values them.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bttackler.analysis.metrics import (
    BUDGET_FRACTIONS,
    RunData,
    increase_ratio,
    terminations_by_indicator,
    top1,
    top10_hit_ratio,
    top_k_mean,
    trials_by,
    tsba,
)
from bttackler.core.objective import CountRule


# ---------------------------------------------------------------- repeats
@dataclass(frozen=True)
class Spread:
    """Mean and sample standard deviation over repeats (``std`` is ``None`` for one value);
    ``missing`` counts the repeats with no number (e.g. TSBA not reached)."""

    mean: float | None
    std: float | None
    n: int
    missing: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "n": self.n, "missing": self.missing}


def spread(values: Sequence[float | None]) -> Spread:
    numbers = [float(v) for v in values if v is not None]
    missing = len(values) - len(numbers)
    if not numbers:
        return Spread(None, None, 0, missing)
    std = statistics.stdev(numbers) if len(numbers) > 1 else None
    return Spread(statistics.fmean(numbers), std, len(numbers), missing)


# ---------------------------------------------------------------- the tables
def _pairs(arm: Sequence[RunData], baseline: Sequence[RunData]) -> list[tuple[RunData, RunData]]:
    """Repeat r of the arm against repeat r of the baseline (the last baseline repeats)."""
    return [(run, baseline[min(r, len(baseline) - 1)]) for r, run in enumerate(arm)]


def _values(run: RunData, count: CountRule) -> list[float]:
    return [s.value for s in run.scored(count)]


def table2(
    arms: Mapping[str, Sequence[RunData]], baseline: str | None, count: CountRule
) -> list[dict[str, Any]]:
    """Per arm: Top1, Top10 mean and Top10HR vs ``baseline`` (``None`` for the baseline)."""
    rows = []
    for name, runs in arms.items():
        row: dict[str, Any] = {
            "arm": name,
            "runs": [r.name for r in runs],
            "counted": spread([len(r.scored(count)) for r in runs]).to_json(),
            "top1": spread([top1(_values(r, count), r.mode) for r in runs]).to_json(),
            "top10": spread([top_k_mean(_values(r, count), r.mode) for r in runs]).to_json(),
            "top10hr": None,
        }
        if baseline is not None and name != baseline:
            ratios = [
                top10_hit_ratio(_values(a, count), _values(b, count), a.mode)
                for a, b in _pairs(runs, arms[baseline])
            ]
            row["top10hr"] = spread(ratios).to_json()
        rows.append(row)
    return rows


def table3(
    arms: Mapping[str, Sequence[RunData]], baseline: str | None, count: CountRule
) -> list[dict[str, Any]]:
    """Per arm: counted trials by 1/6, 1/2 and all of the budget, with the increase ratio."""
    rows = []
    for name, runs in arms.items():
        points = []
        for fraction in BUDGET_FRACTIONS:
            counts = [_count_at(r, fraction, count) for r in runs]
            point: dict[str, Any] = {
                "fraction": fraction,
                "seconds": spread([_at(r, fraction) for r in runs]).mean,
                "trials": spread(counts).to_json(),
                "increase": None,
            }
            if baseline is not None and name != baseline:
                ratios = []
                for a, b in _pairs(runs, arms[baseline]):
                    n_a, n_b = _count_at(a, fraction, count), _count_at(b, fraction, count)
                    ratios.append(None if n_a is None or n_b is None else increase_ratio(n_a, n_b))
                point["increase"] = spread(ratios).to_json()
            points.append(point)
        rows.append({"arm": name, "points": points})
    return rows


def _at(run: RunData, fraction: float) -> float | None:
    return None if run.budget is None else run.budget * fraction


def _count_at(run: RunData, fraction: float, count: CountRule) -> int | None:
    when = _at(run, fraction)
    return None if when is None else trials_by(run.scored(count), when)


def table4(
    arms: Mapping[str, Sequence[RunData]], baseline: str, count: CountRule
) -> list[dict[str, Any]]:
    """Per arm other than the baseline: T_j, T_i and TSBA, per repeat and over repeats."""
    rows = []
    for name, runs in arms.items():
        if name == baseline:
            continue
        results = [
            tsba(a.scored(count), b.scored(count), a.mode) for a, b in _pairs(runs, arms[baseline])
        ]
        rows.append(
            {
                "arm": name,
                "repeats": [r.to_json() for r in results],
                "baseline_time": spread([r.baseline_time for r in results]).to_json(),
                "arm_time": spread([r.arm_time for r in results]).to_json(),
                "tsba": spread([r.tsba for r in results]).to_json(),
            }
        )
    return rows


def table5(arms: Mapping[str, Sequence[RunData]]) -> list[dict[str, Any]]:
    """Per arm: trials terminated per indicator or rule (mean over repeats; every name that
    claimed a trial in any arm, 0 where it claimed none)."""
    per_arm = {name: [terminations_by_indicator(r.trials) for r in runs]
               for name, runs in arms.items()}  # fmt: skip
    names = sorted({k for per_run in per_arm.values() for counts in per_run for k in counts})
    return [
        {"arm": arm, "claimed": {k: spread([c.get(k, 0) for c in per_run]).to_json()
                                 for k in names}}
        for arm, per_run in per_arm.items()
    ]  # fmt: skip


def check_comparable(runs: Sequence[RunData]) -> list[str]:
    """Warnings when runs differ in task, search space, objective, mode, budget or workers
    (where the runs recorded it), and when the first run, the baseline of a comparison, had
    diagnosis on."""
    warnings = []
    for key in ("task", "space", "objective", "mode", "budget", "workers"):
        values = {str(r.meta.get(key)) for r in runs if r.meta.get(key) is not None}
        if len(values) > 1:
            warnings.append(f"runs differ in {key}: {', '.join(sorted(values))}")
    if len(runs) > 1 and runs[0].meta.get("diagnosis"):
        warnings.append(
            f"the baseline (first run, {runs[0].name}) had diagnosis on: its trials were "
            "terminated too, so it is no baseline (run it with --no-diagnosis)"
        )
    return warnings
