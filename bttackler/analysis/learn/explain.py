"""``bttackler explain RUN``: what caused a run's bad trials, and which parameters matter.

One document (:func:`explain`) from the run's store: every trial with a known outcome and its
trouble (:func:`~bttackler.analysis.learn.trouble.trouble_of`), the rules where trials went
wrong (all troubles together, then per indicator with at least three trials), and fANOVA
parameter importance for the objective (the counted trials' last values) and for "the trial
was bad". :func:`lines` prints it for a person.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bttackler.analysis.learn.importance import importances
from bttackler.analysis.learn.trouble import trouble_of, trouble_rules
from bttackler.analysis.metrics import RunData
from bttackler.core.errors import BttacklerError
from bttackler.core.space import SearchSpace, load_space, space_from_mapping
from bttackler.core.store import TrialRow
from bttackler.diagnosis.encoding import columns

MIN_PER_INDICATOR = 3  # trials an indicator needs before rules of its own are sought


def space_of(run: RunData) -> SearchSpace:
    """The search space the run recorded (its path as given, or beside the run's folder);
    else one inferred from the trials' values (numbers spanning 100x or more: log scale)."""
    recorded = run.meta.get("space")
    if isinstance(recorded, str) and recorded:
        for path in (Path(recorded), run.path.parent / recorded):
            if path.is_file():
                try:
                    return load_space(path)
                except BttacklerError:
                    break
    return _inferred(run)


def _inferred(run: RunData) -> SearchSpace:
    seen: dict[str, list[Any]] = {}
    for t in run.trials:
        for k, v in t.params.items():
            seen.setdefault(k, []).append(v)
    if not seen:
        raise BttacklerError(f"{run.path}: no trials to explain")
    spec: dict[str, Any] = {}
    for name, values in seen.items():
        numbers = [float(v) for v in values if _is_number(v)]
        if len(numbers) == len(values) and len(set(numbers)) > 8:
            low, high = min(numbers), max(numbers)
            if low == high:
                high = low + 1.0
            log = low > 0 and high / low >= 100
            spec[name] = {"_type": "loguniform" if log else "uniform", "_value": [low, high]}
        else:
            distinct = list(dict.fromkeys(values))
            spec[name] = {"_type": "choice", "_value": distinct}
    return space_from_mapping(spec, source=f"{run.path} (inferred)")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def explain(runs: Sequence[RunData], space: SearchSpace | None = None) -> dict[str, Any]:
    """The explanation document of ``runs`` (module docstring; several runs of one task and
    space are read as one set of trials); JSON-ready."""
    if not runs:
        raise BttacklerError("explain needs at least one run")
    first = runs[0]
    if len({(r.objective, r.mode) for r in runs}) > 1:
        raise BttacklerError("explain: the runs report different objectives or directions")
    space = space or space_of(first)
    rows: list[tuple[str, TrialRow, str | None]] = []
    for run in runs:
        troubles = trouble_of(run)
        prefix = f"{run.name}/" if len(runs) > 1 else ""
        rows += [(f"{prefix}{t.id}", t, troubles[t.id]) for t in run.trials if t.id in troubles]
    configs = [t.params for _, t, _ in rows]
    labels = [label for _, _, label in rows]
    cols = columns(space)
    counts = Counter(label for label in labels if label is not None)
    by_indicator = {
        name: [r.to_json() for r in trouble_rules(cols, configs, labels, target=name)]
        for name, n in counts.most_common()
        if n >= MIN_PER_INDICATOR
    }
    scored = [
        (t.params, float(t.value))
        for _, t, _ in rows
        if t.state != "failed" and t.value is not None and math.isfinite(t.value)
    ]
    direction = first.mode.verb
    return {
        "runs": [str(r.path) for r in runs],
        "objective": first.objective,
        "mode": first.mode,
        "space": space.source,
        "trials": len(rows),
        "bad": sum(counts.values()),
        "troubles": dict(counts.most_common()),
        "rules": [r.to_json() for r in trouble_rules(cols, configs, labels)],
        "by_indicator": by_indicator,
        "importance": {
            "objective": importances(
                space, [p for p, _ in scored], [v for _, v in scored], direction=direction
            ),  # fmt: skip
            "bad": importances(space, configs, [1.0 if x else 0.0 for x in labels]),
        },
        "trouble_of": {key: label for key, _, label in rows},
    }


def lines(doc: Mapping[str, Any]) -> list[str]:
    """The document as text."""
    troubles = ", ".join(f"{k} {v}" for k, v in doc["troubles"].items()) or "none"
    out = [
        f"explain {', '.join(doc['runs'])}: {doc['trials']} trials with a known outcome, "
        f"{doc['bad']} bad ({troubles})",
        "",
        "What causes bad trials (a shallow decision tree over the configurations; each rule "
        "can be checked with `bttackler trials RUN`):",
    ]
    out += _numbered(doc["rules"]) or ["  no region where most trials were bad"]
    if doc["by_indicator"]:
        out += ["", "By indicator:"]
        for name, rules in doc["by_indicator"].items():
            texts = [r["text"] for r in rules[:3]]
            out += [f"  {name}: {t}" for t in texts] or [f"  {name}: no rule stands out"]
    out += ["", "Parameter importance (fANOVA through Optuna):"]
    for what, label in (("objective", doc["objective"]), ("bad", "a bad trial")):
        found = doc["importance"][what]
        if found is None:
            text = "not available (needs Optuna: pip install 'bttackler[optuna]'; and values "
            text += "that differ)"
        else:
            text = ", ".join(f"{k} {v:.2f}" for k, v in list(found.items())[:6])
        out.append(f"  for {label}: {text}")
    return out


def markdown_section(found: Mapping[str, Any] | None) -> list[str]:
    """The document as the report's Markdown section on what caused bad trials (none
    without a document)."""
    if found is None:
        return []
    lines = ["", f"## What causes bad trials (`bttackler explain` of `{found['runs'][0]}`)", ""]
    troubles = ", ".join(f"{k} {v}" for k, v in found["troubles"].items()) or "none"
    lines.append(f"{found['trials']} trials with a known outcome, {found['bad']} bad "
                 f"({troubles}). Regions where at least 3 in 4 trials were bad:")  # fmt: skip
    lines.append("")
    lines += [f"- {r['text']}" for r in found["rules"]] or ["- none"]
    for what, label in (("objective", found["objective"]), ("bad", "a bad trial")):
        importance = found["importance"][what]
        if importance:
            top = ", ".join(f"{k} {v:.2f}" for k, v in list(importance.items())[:5])
            lines.append(f"\nParameter importance (fANOVA) for {label}: {top}.")
    return lines


def _numbered(rules: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"  {i}. {r['text']}" for i, r in enumerate(rules, start=1)]
