"""``bttackler compare``: the arms of the paper's experiment (baseline, +BTTackler, +ETR), run
one after another with the same seeds, workers and budget, or read from existing runs; and the
paper's Tables 2-5 printed from them (the numbers come from :mod:`bttackler.metrics`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bttackler import report
from bttackler.errors import BttacklerError
from bttackler.metrics import RunData, load_run

ARMS = ("baseline", "bttackler", "etr")


def arm_config(base: Mapping[str, Any], arm: str, mode: str) -> dict[str, Any]:
    """``base`` (the effective configuration) with the arm's ``run``/``diagnosis`` overrides.

    baseline: diagnosis off (``--no-diagnosis``: trace and record, never kill);
    bttackler: diagnosis on; etr: diagnosis off and ``run.etr`` = ``lce`` for a maximised
    objective, ``msr`` for a minimised one.
    """
    if arm not in ARMS:
        raise BttacklerError(f"unknown arm {arm!r}; choose from {', '.join(ARMS)}")
    config = copy.deepcopy(dict(base))
    run = config.setdefault("run", {})
    diagnosis = config.setdefault("diagnosis", {})
    run.pop("etr", None)
    diagnosis["enabled"] = arm == "bttackler"
    if arm == "etr":
        run["etr"] = "lce" if mode == "max" else "msr"
    return config


def run_arms(
    base: Mapping[str, Any],
    *,
    arms: Sequence[str],
    repeats: int,
    name: str,
    plain: bool = True,
) -> dict[str, list[Path]]:
    """Run every arm ``repeats`` times, one run after another; repeat ``r`` of every arm uses
    seed ``run.seed + r``. Runs are named ``NAME-ARM`` (``NAME-ARM-rR`` with repeats).

    Returns:
        The run directories per arm, in repeat order.
    """
    from bttackler import experiment
    from bttackler.config import run_settings
    from bttackler.diagnosis import build_from_config
    from bttackler.progress import make_view
    from bttackler.task import load_task

    settings = run_settings(base)
    task, _ = load_task(settings.task)
    configs = []
    for r in range(repeats):
        for arm in arms:
            config = arm_config(base, arm, task.mode)
            config["run"]["seed"] = settings.seed + r
            config["run"]["name"] = f"{name}-{arm}" + (f"-r{r + 1}" if repeats > 1 else "")
            configs.append((arm, config))
    for _arm, config in configs:  # validate every arm before the first one runs
        build_from_config(config)
        if (settings.results_dir / config["run"]["name"]).exists():
            raise BttacklerError(
                f"results directory {settings.results_dir / config['run']['name']} already "
                "exists; choose another --name"
            )
    dirs: dict[str, list[Path]] = {arm: [] for arm in arms}
    for arm, config in configs:
        prepared = experiment.prepare_new(config)
        print(f"compare: arm {arm} · run {prepared.run_dir} · seed {prepared.settings.seed}",
              flush=True)  # fmt: skip
        view = make_view(f"{arm} · {prepared.run_dir.name}", force_plain=plain)
        try:
            outcome, _ = experiment.execute(prepared, view)
        finally:
            view.close()
        dirs[arm].append(prepared.run_dir)
        if outcome == "interrupted":
            raise KeyboardInterrupt
    return dirs


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
    """Tables 2-5 of a report document as rich tables."""
    fmt = report.fmt_spread
    t = doc["tables"]
    out = []
    t2 = Table(title=f"Table 2: effectiveness ({doc['objective']}, {doc['mode']})")
    for col in ("arm", "runs", "counted", "Top1", "Top10", "Top10HR"):
        t2.add_column(col, overflow="fold")
    for row in t["table2"]:
        hr = fmt(row["top10hr"], percent=True) if row["top10hr"] else "-"
        t2.add_row(row["arm"], str(len(row["runs"])), fmt(row["counted"], digits=6),
                   fmt(row["top1"]), fmt(row["top10"]), hr)  # fmt: skip
    out.append(t2)
    t3 = Table(title="Table 3: trials finished (increase vs the baseline)")
    t3.add_column("arm")
    points = t["table3"][0]["points"] if t["table3"] else []
    for p in points:
        t3.add_column(report.fraction_label(p["fraction"]))
    for row in t["table3"]:
        t3.add_row(row["arm"], *report.table3_cells(row))
    out.append(t3)
    if t["table4"]:
        t4 = Table(title="Table 4: time-saving for baseline accuracy")
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
