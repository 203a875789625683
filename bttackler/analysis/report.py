"""``bttackler report``: the paper's tables and figures for one or more runs, as Markdown + PNG
and as one JSON document (:func:`build` returns it; the schema is in :data:`JSON_SCHEMA_DOC`).

The first run (arm) is the baseline the others are compared with; with one run the tables are
that run's own numbers and no comparison is made. Every trial of every arm counts with the value
the :class:`~bttackler.core.objective.CountRule` given to :func:`build` picks, and the document,
report.md and the figures say which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bttackler.analysis import metrics, paper_tables
from bttackler.analysis.learn.explain import markdown_section as explain_section
from bttackler.analysis.metrics import RunData
from bttackler.analysis.report_figures import HISTOGRAM_GROUPS, draw_figures
from bttackler.core.errors import BttacklerError
from bttackler.core.objective import CountRule, Mode
from bttackler.core.trial_state import TrialState

REPORT_FILE = "report.md"
FIGURE_FILES = {
    "top10_over_time": "fig-top10-over-time.png",
    "final_objective_histogram": "fig-final-objective-histogram.png",
    "trials_over_time": "fig-trials-over-time.png",
    "terminations_by_indicator": "fig-terminations-by-indicator.png",
}
HISTOGRAM_BINS = 10

JSON_SCHEMA_DOC = """\
{
  "schema": 1,
  "baseline": "arm name of the baseline, or null with one arm",
  "count": "last | best: the value every trial of every arm counted with",
  "objective": "val_acc", "mode": "max | min",
  "warnings": ["runs differ in budget: ..."],
  "runs": [{"arm", "name", "path", "task", "method", "budget", "diagnosis",
            "best": {"trial", "value", "params"} | null, "etr", "trials", "counted"}],
  "tables": {
    "table2": [{"arm", "runs": [names], "counted": S, "top1": S, "top10": S,
                "top10hr": S | null}],
    "table3": [{"arm", "points": [{"fraction", "seconds", "trials": S, "increase": S | null}]}],
    "table4": [{"arm", "baseline_time": S, "arm_time": S, "tsba": S,
                "repeats": [{"status": "ok | not reached | no baseline value |
                             baseline time is 0", "tsba", "baseline_best",
                             "baseline_time", "arm_time"}]}],
    "table5": [{"arm", "claimed": {"INDICATOR": S}}]
  },
  "figures": {
    "top10_over_time": {"file", "x": "seconds", "y": objective,
                        "series": [{"arm", "run", "points": [[t, mean_of_top10], ...]}]},
    "final_objective_histogram": {"file", "bin_edges": [...],
        "series": [{"arm", "run", "finished": [counts], "converged": [counts],
                    "killed": [counts]}]},
    "trials_over_time": {"file", "series": [{"arm", "run", "points": [[t, count], ...]}]},
    "terminations_by_indicator": {"file", "indicators": [...],
        "series": [{"arm", "run", "counts": {"INDICATOR": n}}]}
  },
  "explain": "bttackler explain of the first arm's runs (see explain --json) | null",
  "report": "path of report.md (report); null from compare --json"
}
S (a spread over repeats) = {"mean": float | null, "std": float | null (one repeat: null),
                             "n": numbers averaged, "missing": repeats without a number}
"""


def _run_info(arm: str, run: RunData, count: CountRule) -> dict[str, Any]:
    meta = run.meta
    return {
        "arm": arm,
        "name": run.name,
        "path": str(run.path),
        "task": meta.get("task"),
        "method": meta.get("method"),
        "budget": run.budget,
        "diagnosis": meta.get("diagnosis"),
        "best": _best(run, count),
        "etr": meta.get("etr"),
        "trials": len(run.trials),
        "counted": len(run.scored(count)),
    }


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _best(run: RunData, count: CountRule) -> dict[str, Any] | None:
    """The run's best counted trial: its id, value and parameters."""
    scored = run.scored(count)
    if not scored:
        return None
    sign = run.mode.sign
    best = min(scored, key=lambda s: (sign * s.value, s.time, s.trial_id))
    row = next(r for r in run.trials if r.id == best.trial_id)
    return {"trial": best.trial_id, "value": best.value, "params": dict(row.params)}


def _flat(arms: Mapping[str, Sequence[RunData]]) -> list[tuple[str, RunData]]:
    return [(arm, run) for arm, runs in arms.items() for run in runs]


def figure_data(arms: Mapping[str, Sequence[RunData]], count: CountRule) -> dict[str, Any]:
    """The data of every figure (no drawing), trials valued by ``count``."""
    import numpy as np

    flat = _flat(arms)
    mode = flat[0][1].mode if flat else Mode.MAX
    objective = flat[0][1].objective if flat else "objective"
    top10 = [
        {"arm": arm, "run": run.name,
         "points": [list(p) for p in metrics.top_k_mean_over_time(run.scored(count), mode)]}
        for arm, run in flat
    ]  # fmt: skip
    counts = [
        {"arm": arm, "run": run.name,
         "points": [list(p) for p in metrics.count_over_time(run.scored(count))]}
        for arm, run in flat
    ]  # fmt: skip
    groups = [(arm, run, _split_by_termination(run, count)) for arm, run in flat]
    values = [v for _, _, found in groups for vs in found.values() for v in vs]
    edges: list[float] = []
    if values:
        low, high = min(values), max(values)
        if low == high:
            low, high = low - 0.5, high + 0.5
        edges = [float(x) for x in np.linspace(low, high, HISTOGRAM_BINS + 1)]
    hist = []
    for arm, run, found in groups:
        hist.append(
            {
                "arm": arm,
                "run": run.name,
                **{group: _histogram(found[group], edges) for group in HISTOGRAM_GROUPS},
            }
        )
    by_indicator = [
        {"arm": arm, "run": run.name, "counts": metrics.terminations_by_indicator(run.trials)}
        for arm, run in flat
    ]
    indicators = sorted({k for row in by_indicator for k in row["counts"]})
    return {
        "top10_over_time": {"file": FIGURE_FILES["top10_over_time"], "x": "seconds",
                            "y": objective, "series": top10},
        "final_objective_histogram": {"file": FIGURE_FILES["final_objective_histogram"],
                                      "bin_edges": edges, "series": hist},
        "trials_over_time": {"file": FIGURE_FILES["trials_over_time"], "series": counts},
        "terminations_by_indicator": {"file": FIGURE_FILES["terminations_by_indicator"],
                                      "indicators": indicators, "series": by_indicator},
    }  # fmt: skip


def _split_by_termination(run: RunData, count: CountRule) -> dict[str, list[float]]:
    """Counted values of the trials that ran to their end (``finished``), were stopped as
    converged by a benign verdict (``converged``) or were terminated for a problem
    (``killed``)."""
    benign = {int(v["trial_id"]) for v in run.verdicts if v.get("acted") and v.get("benign")}
    found: dict[str, list[float]] = {group: [] for group in HISTOGRAM_GROUPS}
    for row in run.trials:
        value = metrics.counted_value(row, count)
        if value is None:
            continue
        if row.state != TrialState.TERMINATED.value:
            found["finished"].append(value)
        else:
            found["converged" if row.id in benign else "killed"].append(value)
    return found


def _histogram(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    import numpy as np

    if not edges:
        return []
    counts, _ = np.histogram(values, bins=edges)
    return [int(c) for c in counts]


def build(arms: Mapping[str, Sequence[RunData]], count: CountRule) -> dict[str, Any]:
    """The report's JSON document (without writing anything), every trial valued by ``count``."""
    names = list(arms)
    baseline = names[0] if len(names) > 1 else None
    flat = _flat(arms)
    tables: dict[str, Any] = {
        "table2": paper_tables.table2(arms, baseline, count),
        "table3": paper_tables.table3(arms, baseline, count),
        "table4": paper_tables.table4(arms, baseline, count) if baseline else [],
        "table5": paper_tables.table5(arms),
    }
    first = flat[0][1]
    return {
        "schema": 1,
        "baseline": baseline,
        "count": count.value,
        "objective": first.objective,
        "mode": first.mode,
        "warnings": paper_tables.check_comparable([r for _, r in flat]),
        "runs": [_run_info(arm, run, count) for arm, run in flat],
        "tables": tables,
        "figures": figure_data(arms, count),
        "explain": _explain(arms[names[0]]),
        "report": None,
    }


def _explain(runs: Sequence[RunData]) -> dict[str, Any] | None:
    """``bttackler explain`` of the first arm's runs (the baseline's: its recorded verdicts
    label every trial), or None when it cannot be made (no trial, runs that differ)."""
    from bttackler.analysis.learn import explain

    try:
        return explain(list(runs))
    except BttacklerError:
        return None


# ---------------------------------------------------------------- drawing
# ---------------------------------------------------------------- markdown
def fmt_spread(s: Mapping[str, Any] | None, *, percent: bool = False, digits: int = 4) -> str:
    """``mean ± std`` (``±`` only with repeats), ``-`` for no number, a missing count if any."""
    if s is None or s["mean"] is None:
        return "-" if s is None or not s.get("missing") else "not reached"
    unit = "%" if percent else ""
    fmt = "{:.1f}" if percent else f"{{:.{digits}g}}"
    text = fmt.format(s["mean"]) + unit
    if s["std"] is not None:
        text += " ± " + fmt.format(s["std"]) + unit
    if s.get("missing"):
        text += f" ({s['missing']} of {s['n'] + s['missing']} not reached)"
    return text


def count_label(doc: Mapping[str, Any]) -> str:
    """``counted by last value`` or ``counted by best value``: the rule ``doc`` was built with."""
    return CountRule(doc["count"]).label


def counting_note(doc: Mapping[str, Any]) -> str:
    """One paragraph saying which trials counted, with which value and time."""
    which = {
        CountRule.LAST: "its last reported value, whatever stopped it (NMG included, as in the "
        "paper)",
        CountRule.BEST: "its best epoch's value, whatever stopped it",
    }[CountRule(doc["count"])]
    return (f"Trials {count_label(doc)}: every finished or terminated trial of every arm counts "
            f"with {which}; failed, stopped and interrupted trials not at all (`--count last|"
            "best` switches). Time of a trial: when it ended. Ties at the top-10 boundary "
            "share the places.")  # fmt: skip


def markdown(doc: Mapping[str, Any]) -> str:
    t = doc["tables"]
    baseline = doc["baseline"]
    counted_by = count_label(doc)
    lines = ["# bttackler report", ""]
    against = f"Baseline: `{baseline}`." if baseline else "One run: no comparison."
    lines.append(f"Objective: `{doc['objective']}` ({doc['mode']}), {counted_by}. {against}")
    lines += ["", "| arm | run | task | method | budget (s) | diagnosis | etr | trials | counted |",
              "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in doc["runs"]:
        diagnosis = {True: "on", False: "off"}.get(r["diagnosis"], "-")
        cells = [r["arm"], r["name"], r["task"], r["method"], r["budget"], diagnosis,
                 r["etr"] or "-", r["trials"], r["counted"]]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", "Best configuration of each run:", ""]
    for r in doc["runs"]:
        best = r.get("best")
        if best is None:
            lines.append(f"- `{r['name']}`: no counted trial")
            continue
        params = ", ".join(f"{k}={_short(v)}" for k, v in best["params"].items())
        lines.append(f"- `{r['name']}`: trial {best['trial']}, {doc['objective']} "
                     f"{best['value']:.4g} — {params}")  # fmt: skip
    for w in doc["warnings"]:
        lines.append(f"\n**Warning:** {w}")
    lines += ["", counting_note(doc), ""]
    lines += [
        f"## Table 2: effectiveness ({counted_by})",
        "",
        "| arm | Top1 | Top10 | Top10HR |",
        "|---|---|---|---|",
    ]
    for row in t["table2"]:
        hr = fmt_spread(row["top10hr"], percent=True) if row["top10hr"] else "-"
        lines.append(f"| {row['arm']} | {fmt_spread(row['top1'])} | {fmt_spread(row['top10'])} "
                     f"| {hr} |")  # fmt: skip
    versus = "increase ratio vs the baseline; " if baseline else ""
    lines += ["", f"## Table 3: trials finished ({versus}{counted_by})", ""]
    fractions = [p["fraction"] for p in t["table3"][0]["points"]] if t["table3"] else []
    lines.append("| arm | " + " | ".join(fraction_label(f) for f in fractions) + " |")
    lines.append("|---|" + "---|" * len(fractions))
    for row in t["table3"]:
        lines.append(f"| {row['arm']} | " + " | ".join(table3_cells(row)) + " |")
    if not t["table4"]:
        lines += [
            "",
            "## Table 4: time-saving for baseline accuracy",
            "",
            "Needs a baseline: give the baseline run first and the others after it.",
        ]
    if t["table4"]:
        lines += ["", f"## Table 4: time-saving for baseline accuracy ({counted_by})", "",
                  "| arm | baseline's time to its best (s) | arm's time to reach it (s) | TSBA |",
                  "|---|---|---|---|"]  # fmt: skip
        for row in t["table4"]:
            lines.append(f"| {row['arm']} | {fmt_spread(row['baseline_time'])} "
                         f"| {fmt_spread(row['arm_time'])} "
                         f"| {fmt_spread(row['tsba'], percent=True)} |")  # fmt: skip
    lines += ["", "## Table 5: trials terminated per indicator", ""]
    names = sorted({k for row in t["table5"] for k in row["claimed"]})
    if names:
        lines.append("| arm | " + " | ".join(names) + " |")
        lines.append("|---|" + "---|" * len(names))
        for row in t["table5"]:
            cells = [fmt_spread(row["claimed"].get(k), digits=6) for k in names]
            lines.append(f"| {row['arm']} | " + " | ".join(cells) + " |")
    else:
        lines.append("No trial was terminated.")
    lines += explain_section(doc.get("explain"))
    lines += ["", "## Figures", ""]
    titles = {
        "top10_over_time": f"Top-10 mean objective over time (Figure 4, {counted_by}; from "
        "the 10th counted trial of each run on)",
        "final_objective_histogram": "Counted objective of finished, converged (NMG) and "
        f"killed trials (Figure 5, {counted_by})",
        "trials_over_time": "Trials finished over time",
        "terminations_by_indicator": "Terminations per indicator",
    }
    figures = doc["figures"]
    has_data = {
        "top10_over_time": any(s["points"] for s in figures["top10_over_time"]["series"]),
        "final_objective_histogram": bool(figures["final_objective_histogram"]["bin_edges"]),
        "trials_over_time": any(s["points"] for s in figures["trials_over_time"]["series"]),
        "terminations_by_indicator": bool(figures["terminations_by_indicator"]["indicators"]),
    }
    empty = {
        "top10_over_time": "No run has 10 counted trials yet: no figure.",
        "final_objective_histogram": "No counted trial: no figure.",
        "trials_over_time": "No counted trial: no figure.",
        "terminations_by_indicator": "No trial was terminated: no figure.",
    }
    for key, title in titles.items():
        lines += [f"### {title}", ""]
        if has_data[key]:
            lines += [f"![{title}]({figures[key]['file']})", ""]
        else:
            lines += [empty[key], ""]
    return "\n".join(lines)


def table3_cells(row: Mapping[str, Any]) -> list[str]:
    """Table 3 cells of one arm: trials at each budget fraction, with the increase."""
    cells = []
    for p in row["points"]:
        cell = fmt_spread(p["trials"], digits=6)
        if p["increase"] is not None:
            cell += f" ({fmt_spread(p['increase'], percent=True)})"
        cells.append(cell)
    return cells


def fraction_label(fraction: float) -> str:
    return {1 / 6: "1/6 budget", 1 / 2: "1/2 budget", 1.0: "full budget"}.get(
        fraction, f"{fraction:g} budget"
    )


def write(arms: Mapping[str, Sequence[RunData]], out_dir: Path, count: CountRule) -> dict[str, Any]:
    """Build the report (trials valued by ``count``), write ``report.md`` and the figures into
    ``out_dir``; return the doc."""
    doc = build(arms, count)
    draw_figures(doc, out_dir)
    path = out_dir / REPORT_FILE
    path.write_text(markdown(doc))
    doc["report"] = str(path)
    return doc
