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

from bttackler.core.objective import Mode

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


def best_so_far(
    runs: Sequence[Sequence[tuple[float, float]]], mode: Mode | str, budget: float, points: int = 60
) -> dict[str, list[float | None]]:
    """The best counted value so far against time, over many searches: at ``points`` times
    from 0 to ``budget``, the median and the quartiles over the searches that had a counted
    trial by then (``None`` before any had). ``runs``: per search, ``(time, value)`` of its
    counted trials."""
    grid = np.linspace(0.0, budget, points)
    better = max if Mode.of(mode) is Mode.MAX else min
    curves = np.full((len(runs), points), np.nan)
    for i, run in enumerate(runs):
        best = math.nan
        events = sorted(run)
        j = 0
        for k, t in enumerate(grid):
            while j < len(events) and events[j][0] <= t:
                value = events[j][1]
                best = value if math.isnan(best) else better(best, value)
                j += 1
            curves[i, k] = best
    out: dict[str, list[float | None]] = {"t": [float(t) for t in grid]}
    for name, q in (("q25", 25), ("median", 50), ("q75", 75)):
        column: list[float | None] = []
        for k in range(points):
            have = curves[:, k][~np.isnan(curves[:, k])]
            column.append(float(np.percentile(have, q)) if have.size else None)
        out[name] = column
    return out


def draw_best_so_far(doc: dict[str, Any], path: str) -> None:
    """The figure of ``doc["best_so_far"]``: per arm the median best value so far against
    simulated time, with its interquartile band (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for arm, band in doc["best_so_far"]["arms"].items():
        t = doc["best_so_far"]["t"]
        keep = [i for i, m in enumerate(band["median"]) if m is not None]
        if not keep:
            continue
        xs = [t[i] for i in keep]
        line = ax.plot(xs, [band["median"][i] for i in keep], label=arm)[0]
        ax.fill_between(xs, [band["q25"][i] for i in keep], [band["q75"][i] for i in keep],
                        color=line.get_color(), alpha=0.15)  # fmt: skip
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(f"best {doc['objective']} so far")
    ax.set_title(f"simulate {doc['method']}: median and interquartile band over "
                 f"{doc['seeds']} seeds")  # fmt: skip
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


__all__ = ["Interval", "best_so_far", "draw_best_so_far", "interval", "iqm"]
