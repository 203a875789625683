"""``bttackler compare``: the arms of the paper's experiment (baseline, +BTTackler, +ETR) read
from their runs (:mod:`bttackler.runtime.arms` runs them), and the paper's Tables 2-5 printed
from them (the numbers come from :mod:`bttackler.analysis.metrics`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bttackler.analysis import report
from bttackler.analysis.metrics import RunData, load_run
from bttackler.core.errors import BttacklerError


def load_arms(specs: Sequence[str]) -> dict[str, list[RunData]]:
    """Arms from command-line arguments: each is a run directory, or several separated by
    commas (repeats of one arm). The first is the baseline."""
    arms: dict[str, list[RunData]] = {}
    for spec in specs:
        runs = [load_run(Path(p)) for p in spec.split(",") if p]
        if not runs:
            raise BttacklerError(f"no run directory in {spec!r}")
        label = runs[0].name if len(runs) == 1 else f"{runs[0].name} (+{len(runs) - 1})"
        while label in arms:
            label += "'"
        arms[label] = runs
    modes = {r.mode for runs in arms.values() for r in runs}
    if len(modes) > 1:
        raise BttacklerError("runs to compare must share the objective's mode (max or min)")
    return arms


def tables(doc: Mapping[str, Any]) -> list[Table]:
    """Tables 2-5 of a report document as rich tables; those that value trials say how."""
    fmt = report.fmt_spread
    counted_by = report.count_label(doc)
    t = doc["tables"]
    out = []
    t2 = Table(title=f"Table 2: effectiveness ({doc['objective']}, {doc['mode']}, {counted_by})")
    for col in ("arm", "runs", "counted", "Top1", "Top10", "Top10HR"):
        t2.add_column(col, overflow="fold")
    for row in t["table2"]:
        hr = fmt(row["top10hr"], percent=True) if row["top10hr"] else "-"
        t2.add_row(row["arm"], str(len(row["runs"])), fmt(row["counted"], digits=6),
                   fmt(row["top1"]), fmt(row["top10"]), hr)  # fmt: skip
    out.append(t2)
    t3 = Table(title=f"Table 3: trials finished (increase vs the baseline; {counted_by})")
    t3.add_column("arm")
    points = t["table3"][0]["points"] if t["table3"] else []
    for p in points:
        t3.add_column(report.fraction_label(p["fraction"]))
    for row in t["table3"]:
        t3.add_row(row["arm"], *report.table3_cells(row))
    out.append(t3)
    if t["table4"]:
        t4 = Table(title=f"Table 4: time-saving for baseline accuracy ({counted_by})")
        for col in ("arm", "baseline time to best (s)", "arm time to reach it (s)", "TSBA"):
            t4.add_column(col)
        for row in t["table4"]:
            t4.add_row(row["arm"], fmt(row["baseline_time"]), fmt(row["arm_time"]),
                       fmt(row["tsba"], percent=True))  # fmt: skip
        out.append(t4)
    names = sorted({k for row in t["table5"] for k in row["claimed"]})
    t5 = Table(title="Table 5: trials terminated per indicator")
    t5.add_column("arm")
    for n in names:
        t5.add_column(n)
    for row in t["table5"]:
        t5.add_row(row["arm"], *(fmt(row["claimed"].get(n), digits=6) for n in names))
    out.append(t5)
    return out


def print_tables(doc: Mapping[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    for w in doc["warnings"]:
        console.print(f"warning: {w}")
    for table in tables(doc):
        console.print(table)
