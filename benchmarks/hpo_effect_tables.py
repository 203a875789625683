"""The table of ``hpo_effect.py``: each cell's numbers read from its compare document, the
one table per task x method x arm (mean ± std over the seeds), the means and the targets."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bttackler.analysis.metrics import counted_value, load_run
from bttackler.core.objective import CountRule, is_better

ARMS = ("baseline", "bttackler", "lce", "msr", "bttackler+msr", "asha", "bttackler+asha",
        "hyperband", "bttackler+hyperband", "bttackler+avoid")  # fmt: skip
DEFAULT_ARMS = ARMS[:7]
ETR_ARMS = ("lce", "msr")  # the paper's baselines: the targets compare bttackler with these
TARGET_HR, TARGET_TSBA = 75.0, 45.0


# ---------------------------------------------------------------- reading a cell
def good_killed(cell: dict[str, Any]) -> list[int]:
    """Of the baseline's top-10 trials that replay would kill, those counted better than the
    run's median: good trials lost. In a short run the top 10 is most of the run and holds
    bad trials too (a run of 12 trials has 10 of them in its top 10), so a kill there is not
    always a false alarm; this says which are."""
    ids = cell["replay"].get("killed_top10", [])
    median = cell["bad"].get("median")
    if not ids or median is None:
        return []
    run = load_run(Path(cell["compare"]["runs"][0]["path"]))
    values = {r.id: counted_value(r, CountRule.LAST) for r in run.trials}
    return [i for i in ids if (v := values.get(i)) is not None and is_better(v, median, run.mode)]


def arm_numbers(cell: dict[str, Any], arm: str) -> dict[str, Any]:
    """The arm's numbers in one cell, from the compare document (the project's metrics)."""
    t = cell["compare"]["tables"]
    row2 = next(r for r in t["table2"] if r["arm"] == arm)
    row4 = next((r for r in t["table4"] if r["arm"] == arm), None)
    row5 = next((r for r in t["table5"] if r["arm"] == arm), {"claimed": {}})
    tsba, status = None, None
    if row4 is not None:
        tsba = row4["tsba"]["mean"]
        status = row4["repeats"][0]["status"] if row4["repeats"] else None
    return {
        "trials": row2["counted"]["mean"],
        "hr": row2["top10hr"]["mean"] if row2["top10hr"] else None,
        "tsba": tsba,
        "status": status,
        "kills": {k: v["mean"] for k, v in row5["claimed"].items() if v["mean"]},
    }


def pm(values: Sequence[float | None], fmt: str = "{:.0f}", unit: str = "") -> str:
    """``mean ± std`` of the numbers among ``values`` (``-`` without any)."""
    nums = [v for v in values if v is not None and math.isfinite(v)]
    if not nums:
        return "-"
    text = fmt.format(statistics.fmean(nums)) + unit
    if len(nums) > 1:
        text += " ± " + fmt.format(statistics.stdev(nums)) + unit
    return text


def mean(values: Iterable[float | None]) -> float | None:
    nums = [v for v in values if v is not None]
    return statistics.fmean(nums) if nums else None


# ---------------------------------------------------------------- the table
def print_table(cells: list[dict[str, Any]]) -> bool:
    """The one table, the per-arm means and the targets; True when every target holds."""
    arms = [a for a in ARMS if any(a in c["arms"] for c in cells)]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in cells:
        groups.setdefault((c["task"], c["method"]), []).append(c)
    head = (
        f"{'task':<12} {'method':<7} {'arm':<14} {'trials':>10} {'Top10HR':>13} {'TSBA':>15} "
        f"{'reached':>7}  kills (per run) | baseline: top10 killed, bad time"
    )
    print("\n" + head)
    print("-" * len(head))
    for (task, method), group in groups.items():
        seeds = ",".join(str(c["seed"]) for c in group)
        mode = group[0]["compare"]["mode"]
        for arm in arms:
            nums = [arm_numbers(c, arm) for c in group if arm in c["arms"]]
            kills: dict[str, list[float]] = {}
            for n in nums:
                for k, v in n["kills"].items():
                    kills.setdefault(k, []).append(v)
            kill_text = " ".join(f"{k}:{sum(v) / len(nums):.1f}" for k, v in sorted(kills.items()))
            reached = sum(1 for n in nums if n["tsba"] is not None)
            extra = ""
            if arm == "baseline":
                killed = [len(c["replay"].get("killed_top10", [])) for c in group]
                errors = [c["replay"]["error"] for c in group if "error" in c["replay"]]
                shares = [c["bad"]["share"] for c in group]
                bad = sum(c["bad"]["bad"] for c in group)
                judged = sum(c["bad"]["trials"] for c in group)
                percent = pm([s * 100 for s in shares if s is not None], unit="%")
                who: dict[str, int] = {}
                for c in group:
                    for k, ids in c["replay"].get("by_indicator", {}).items():
                        who[k] = who.get(k, 0) + len(ids)
                named = f" {' '.join(f'{k}:{n}' for k, n in sorted(who.items()))}" if who else ""
                good = sum(len(good_killed(c)) for c in group)
                extra = (f" | {sum(killed)}{named} (target 0; {good} above the median), "
                         f"{percent} ({bad}/{judged} trials bad)")  # fmt: skip
                if errors:
                    extra += f" replay error: {errors[0]}"
            trials = pm([n["trials"] for n in nums], "{:.1f}")
            hr, tsba, got = "-", "-", "-"
            if arm != "baseline":
                hr = pm([n["hr"] for n in nums], "{:.0f}", "%")
                tsba = pm([n["tsba"] for n in nums], "{:+.0f}", "%")
                got = f"{reached}/{len(nums)}"
            print(
                f"{task:<12} {method:<7} {arm:<14} {trials:>10} {hr:>13} {tsba:>15} {got:>7}  "
                f"{kill_text or '-'}{extra}"
            )
        print(f"{'':<12} {'':<7} ({mode}; seeds {seeds})")
    return print_summary(cells, arms)


def print_summary(cells: list[dict[str, Any]], arms: list[str]) -> bool:
    methods = sorted({c["method"] for c in cells})
    tasks = sorted({c["task"] for c in cells})
    print(f"\nmean over {len(tasks)} task(s) x {len(methods)} method(s) x seeds "
          f"({len(cells)} cells), per arm:")  # fmt: skip
    per_arm: dict[str, dict[str, Any]] = {}
    for arm in arms[1:]:
        armed = [c for c in cells if arm in c["arms"]]
        nums = [arm_numbers(c, arm) for c in armed]
        hr = mean(n["hr"] for n in nums)
        tsba = mean(n["tsba"] for n in nums)
        reached = sum(1 for n in nums if n["tsba"] is not None)
        by_method = {
            m: mean(n["hr"] for c, n in zip(armed, nums) if c["method"] == m) for m in methods
        }
        per_arm[arm] = {"hr": hr, "tsba": tsba, "by_method": by_method}
        methods_text = ", ".join(f"{m} {v:.0f}%" for m, v in by_method.items() if v is not None)
        print(f"  {arm:<14} Top10HR {_pct(hr)}  TSBA {_pct(tsba, '{:+.1f}')} "
              f"(reached in {reached}/{len(nums)})  Top10HR by method: {methods_text}")  # fmt: skip
    killed = sum(len(c["replay"].get("killed_top10", [])) for c in cells)
    good = sum(len(good_killed(c)) for c in cells)
    shares = [c["bad"]["share"] for c in cells if c["bad"]["share"] is not None]
    print(f"  baseline       replay: {killed} top-10 trial(s) a problem indicator would have "
          f"killed (target 0), {good} of them better than their run's median; bad trials "
          f"took {_pct(mean(s * 100 for s in shares))} of the trial time")  # fmt: skip
    btt = per_arm.get("bttackler")
    if btt is None:
        print("targets: not judged (no bttackler arm)")
        return True
    checks = [
        (f"bttackler mean Top10HR >= {TARGET_HR:.0f}%", _ge(btt["hr"], TARGET_HR)),
        (
            f"bttackler mean TSBA >= {TARGET_TSBA:.0f}% (over the cells where it was reached)",
            _ge(btt["tsba"], TARGET_TSBA),
        ),  # fmt: skip
    ]
    for etr in (a for a in ETR_ARMS if a in per_arm):
        for m in methods:
            ours, theirs = btt["by_method"].get(m), per_arm[etr]["by_method"].get(m)
            ok = ours is not None and theirs is not None and ours > theirs
            checks.append((f"{m}: bttackler Top10HR above {etr}'s", ok))
    for rule in ("asha", "hyperband"):  # the combination users run: does diagnosis add to it?
        alone, both = per_arm.get(rule), per_arm.get(f"bttackler+{rule}")
        if alone is not None and both is not None:
            print(f"  bttackler+{rule} vs {rule} alone: Top10HR {_pct(both['hr'])} vs "
                  f"{_pct(alone['hr'])}, TSBA {_pct(both['tsba'], '{:+.1f}')} vs "
                  f"{_pct(alone['tsba'], '{:+.1f}')}")  # fmt: skip
    print("targets:")
    for text, ok in checks:
        print(f"  [{'met' if ok else 'MISSED'}] {text}")
    return all(ok for _, ok in checks)


def _pct(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value) + "%"


def _ge(value: float | None, target: float) -> bool:
    return value is not None and value >= target
