"""A trial's figures as PNG (``bttackler report RUN --trial N``): the dashboard's trial views
drawn with matplotlib from the same document (:func:`bttackler.analysis.dashboard.data.trial_doc`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

FILES = {
    "curves": "trial-{id}-curves.png",
    "gradients": "trial-{id}-gradients.png",
    "ratios": "trial-{id}-gradient-ratios.png",
    "inactive": "trial-{id}-inactive-ratios.png",
}


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _positive(values: Sequence[Any]) -> list[float]:
    return [float(v) if v is not None and v > 0 else float("nan") for v in values]


def draw(doc: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Write the four figures of trial ``doc`` into ``out_dir``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    trial = doc["trial"]
    x = doc["epochs"]
    verdict = doc.get("verdict")
    th = doc["thresholds"]
    title = f"trial {trial['id']} of {doc['run']}: {trial['state']}"
    if verdict:
        title += f" ({verdict['indicator']} at epoch {verdict['epoch']})"
    written: list[Path] = []

    def mark(ax: Any) -> None:
        if verdict and verdict.get("epoch") is not None:
            ax.axvline(verdict["epoch"], color="#b35900", lw=2,
                       label=f"{verdict['indicator']} verdict: {verdict['rule']}")  # fmt: skip

    def save(fig: Any, ax: Any, key: str, ylabel: str) -> None:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / FILES[key].format(id=trial["id"])
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    fig, ax = plt.subplots(figsize=(7, 4))
    objective = doc["objective"]
    for name, values in doc["curves"].items():
        if name != objective:
            ax.plot(x, [_num(v) for v in values], marker=".", label=name)
    if objective in doc["curves"]:
        twin = ax.twinx()
        twin.plot(x, [_num(v) for v in doc["curves"][objective]], color="#2ca02c", marker=".",
                  label=objective)  # fmt: skip
        twin.set_ylabel(objective)
        twin.legend(fontsize=7, loc="lower right")
    mark(ax)
    save(fig, ax, "curves", "loss")

    fig, ax = plt.subplots(figsize=(7, 4))
    g = doc["grad_abs_mean"]
    for name, values in zip(g["layers"], g["series"]):
        ax.plot(x, _positive(values), marker=".", label=f"layer {name}")
    if g["layers"]:
        ax.set_yscale("log")
    mark(ax)
    save(fig, ax, "gradients", "mean |gradient|")

    fig, ax = plt.subplots(figsize=(7, 4))
    r = doc["grad_ratios"]
    for name, values in zip(r["layers"], r["series"]):
        ax.plot(x, _positive(values), marker=".", lw=1, label=name)
    ax.plot(x, _positive(r["median"]), color="black", lw=2.5, marker="o", label="median (judged)")
    ax.axhline(th["EAG"]["upper_bound"], color="#d62728", ls="--",
               label=f"EAG bound {th['EAG']['upper_bound']:g}")  # fmt: skip
    ax.axhline(th["ERG"]["lower_bound"], color="#9467bd", ls="--",
               label=f"ERG bound {th['ERG']['lower_bound']:g}")  # fmt: skip
    ax.set_yscale("log")
    mark(ax)
    save(fig, ax, "ratios", "adjacent-layer gradient ratio")

    fig, ax = plt.subplots(figsize=(7, 4))
    a = doc["inactivity"]
    for name, values in zip(a["layers"], a["series"]):
        ax.plot(x, [_num(v) for v in values], marker=".", label=f"layer {name}")
    ax.axhline(th["LAR"]["threshold"], color="#d62728", ls="--",
               label=f"LAR threshold {th['LAR']['threshold']:g}")  # fmt: skip
    ax.set_ylim(0, 1.05)
    mark(ax)
    save(fig, ax, "inactive", a["measure"])
    return written
