"""The PNG figures of a ``bttackler report`` document (matplotlib, Agg backend): top-10 mean
and trials over time, the final objective's histogram by how trials ended, terminations per
indicator. They draw only what the document (:func:`bttackler.analysis.report.build`) holds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bttackler.core.objective import CountRule

HISTOGRAM_GROUPS = ("finished", "converged", "killed")  # how the histogram's trials ended


def draw_figures(doc: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Write the PNG figures of ``doc`` into ``out_dir`` (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = doc["figures"]
    counted_by = CountRule(doc["count"]).label
    written = []

    def save(fig: Any, key: str) -> None:
        path = out_dir / figs[key]["file"]
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    def step_plot(key: str, ylabel: str, title: str) -> None:
        if not any(s["points"] for s in figs[key]["series"]):
            return  # nothing to draw: report.md says so
        fig, ax = plt.subplots(figsize=(7, 4))
        for s in figs[key]["series"]:
            if s["points"]:
                xs, ys = zip(*s["points"])
                ax.step(xs, ys, where="post", label=_label(s))
        ax.set_xlabel("time since the run started (s)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        _legend(ax)
        save(fig, key)

    step_plot(
        "top10_over_time",
        f"{doc['objective']} (mean of the top 10)",
        f"Top-10 mean objective over time ({counted_by})",
    )

    hist = figs["final_objective_histogram"]
    series = hist["series"]
    edges = hist["bin_edges"]
    if edges:
        fig, axes = plt.subplots(1, max(1, len(series)), figsize=(4 * max(1, len(series)), 3.5),
                                 squeeze=False)  # fmt: skip
        width = (edges[1] - edges[0]) / len(HISTOGRAM_GROUPS)
        for ax, s in zip(axes[0], series):
            for k, group in enumerate(HISTOGRAM_GROUPS):  # side by side, never overlapping
                lefts = [e + k * width for e in edges[:-1]]
                ax.bar(lefts, s[group], width=width, align="edge", label=group)
            ax.set_xlabel(f"{doc['objective']} ({counted_by})")
            ax.set_ylabel("trials")
            ax.set_title(_label(s), fontsize=9)
            _legend(ax)
        save(fig, "final_objective_histogram")

    step_plot(
        "trials_over_time", "trials with a value", f"Trials finished over time ({counted_by})"
    )

    term = figs["terminations_by_indicator"]
    names = term["indicators"]
    if not names:
        return written  # no termination: report.md says so
    fig, ax = plt.subplots(figsize=(7, 4))
    n = max(1, len(term["series"]))
    for k, s in enumerate(term["series"]):
        bar_x = [i + k / (n + 1) for i in range(len(names))]
        ax.bar(bar_x, [s["counts"].get(name, 0) for name in names], width=1 / (n + 1),
               label=_label(s))  # fmt: skip
    ax.set_xticks([i + (n - 1) / (2 * (n + 1)) for i in range(len(names))], names)
    ax.set_ylabel("trials terminated")
    ax.set_title("Terminations per indicator")
    _legend(ax)
    save(fig, "terminations_by_indicator")
    return written


def _label(series: Mapping[str, Any]) -> str:
    arm, run = series["arm"], series["run"]
    return arm if arm == run else f"{arm} ({run})"


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
