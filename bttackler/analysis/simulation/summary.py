"""Figures over many simulated seeds: interquartile mean, median and a bootstrap interval.

Over 30-100 repetitions HPO benchmarks report the interquartile mean (the mean of the middle
half: robust to the lucky and unlucky seeds a plain mean follows) with a percentile bootstrap
95% interval (Agarwal et al., 2021, "Deep RL at the edge of the statistical precipice").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import trim_mean

BOOTSTRAP = 2000


def iqm(values: Sequence[float]) -> float:
    """Mean of the middle 50% of ``values`` (NaN when empty)."""
    data = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    return float(trim_mean(data, 0.25)) if data.size else math.nan


@dataclass(frozen=True)
class Interval:
    """The IQM of one figure over the seeds, its 95% bootstrap interval and the median."""

    iqm: float
    low: float
    high: float
    median: float
    n: int  # seeds with a finite value
    # where single searches fall: the 2.5th and 97.5th percentiles of the per-seed values
    # (what one real run of the same setting should land inside)
    spread_low: float = math.nan
    spread_high: float = math.nan

    def to_json(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {"iqm": num(self.iqm), "low": num(self.low), "high": num(self.high),
                "median": num(self.median), "n": self.n, "spread_low": num(self.spread_low),
                "spread_high": num(self.spread_high)}  # fmt: skip

    def text(self, fmt: str = "{:.1f}") -> str:
        if not self.n:
            return "-"
        return f"{fmt.format(self.iqm)} [{fmt.format(self.low)}, {fmt.format(self.high)}]"


def interval(values: Sequence[float], seed: int = 0, resamples: int = BOOTSTRAP) -> Interval:
    """IQM of the finite ``values`` with a percentile bootstrap 95% interval (``resamples``
    resamples of the seeds, a fixed generator: the same values give the same interval)."""
    data = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if not data.size:
        return Interval(math.nan, math.nan, math.nan, math.nan, 0)
    rng = np.random.default_rng(seed)
    draws = rng.choice(data, size=(resamples, data.size), replace=True)
    boot = trim_mean(draws, 0.25, axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    spread_low, spread_high = np.percentile(data, [2.5, 97.5])
    return Interval(
        iqm(data.tolist()), float(low), float(high), float(np.median(data)), int(data.size),
        float(spread_low), float(spread_high),
    )  # fmt: skip


__all__ = ["Interval", "interval", "iqm"]
