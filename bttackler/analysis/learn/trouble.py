"""What causes bad trials: each trial's trouble, and short rules over the configurations.

A trial's *trouble* (:func:`trouble_of`) is the indicator of its first problem verdict —
acted on or only recorded (a ``--no-diagnosis`` run records them too), benign ones (NMG) and
the accuracy rules (LCE, MSR, ASHA, Hyperband) left out: those say a trial is worse, not
broken — or ``"failed"`` for a trial that failed. Trials the budget or the user stopped are
left out: what they would have shown is unknown.

:func:`trouble_rules` fits a shallow decision tree (scikit-learn's CART: a well-kept library,
and its splits read as rules a person can check against ``bttackler trials``) on the encoded
configurations, and reads every leaf where most trials were bad as one rule: the conditions
of its path, how many of its trials were bad, and by which indicators ("optimizer = sgd and
lr > 0.31 -> AGV in 14 of 15 trials"). Per indicator, the same with that indicator alone as
the target.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bttackler.analysis.metrics import RunData
from bttackler.core.trial_state import OUTCOMES
from bttackler.diagnosis.encoding import Column, condition_text, encode

ACCURACY_RULES = frozenset({"LCE", "MSR", "ASHA", "HB"})
FAILED = "failed"


def trouble_of(run: RunData) -> dict[int, str | None]:
    """Each trial with a known outcome -> its trouble (module docstring), or None: healthy."""
    first: dict[int, str] = {}
    for v in run.verdicts:  # in the order they came
        if v["benign"] or v["indicator"] in ACCURACY_RULES:
            continue
        first.setdefault(int(v["trial_id"]), str(v["indicator"]))
    out: dict[int, str | None] = {}
    for t in run.trials:
        if t.state not in OUTCOMES:
            continue
        out[t.id] = FAILED if t.state == "failed" else first.get(t.id)
    return out


@dataclass(frozen=True)
class TroubleRule:
    """One region of the space where trials went wrong."""

    conditions: tuple[str, ...]
    bad: int  # trials of the region that were bad (had the target trouble)
    total: int  # trials in the region
    indicators: Mapping[str, int] = field(default_factory=dict)  # the bad ones' troubles

    @property
    def share(self) -> float:
        return self.bad / self.total

    def text(self) -> str:
        """``optimizer = sgd and lr > 0.31 -> AGV/VGM in 14 of 15 trials``."""
        names = "/".join(name for name, _ in Counter(self.indicators).most_common(3)) or "bad"
        return f"{' and '.join(self.conditions)} -> {names} in {self.bad} of {self.total} trials"

    def to_json(self) -> dict[str, Any]:
        return {"conditions": list(self.conditions), "bad": self.bad, "total": self.total,
                "indicators": dict(self.indicators), "text": self.text()}  # fmt: skip


def trouble_rules(
    cols: Sequence[Column],
    configs: Sequence[Mapping[str, Any]],
    troubles: Sequence[str | None],
    *,
    target: str | None = None,
    min_share: float = 0.75,
    min_support: int = 3,
    max_depth: int = 3,
) -> list[TroubleRule]:
    """The rules where trials were bad: any trouble, or only ``target``'s (module docstring).

    A leaf becomes a rule when at least ``min_share`` of its ``>= min_support`` trials were
    bad; rules come most-supported first. No rule when there is nothing to tell apart (fewer
    than two bad or two good trials).
    """
    from sklearn.tree import DecisionTreeClassifier

    y = np.array([(t is not None) if target is None else (t == target) for t in troubles])
    if len(y) < 2 * min_support or y.sum() < 2 or (~y).sum() < 2:
        return []
    x = np.nan_to_num(encode(cols, configs), nan=-1e9)  # missing: a side of its own
    tree = DecisionTreeClassifier(
        max_depth=max_depth, min_samples_leaf=min_support, random_state=0
    ).fit(x, y)
    leaves = tree.apply(x)
    rules = []
    for leaf, path in _paths(tree.tree_).items():
        members = np.flatnonzero(leaves == leaf)
        bad = int(y[members].sum())
        if len(members) < min_support or bad < min_share * len(members) or not path:
            continue
        found = Counter(str(troubles[int(i)]) for i in members if y[i])
        rules.append(TroubleRule(_merge(cols, path), bad, len(members), dict(found)))
    rules.sort(key=lambda r: (-r.bad, -r.share, r.conditions))
    return rules


def _paths(tree: Any) -> dict[int, list[tuple[int, float, bool]]]:
    """Leaf node -> the splits on its path: (feature, threshold, went right ``>``)."""
    out: dict[int, list[tuple[int, float, bool]]] = {}
    stack: list[tuple[int, list[tuple[int, float, bool]]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        left, right = tree.children_left[node], tree.children_right[node]
        if left == right:  # a leaf
            out[node] = path
            continue
        feature, threshold = int(tree.feature[node]), float(tree.threshold[node])
        stack.append((left, [*path, (feature, threshold, False)]))
        stack.append((right, [*path, (feature, threshold, True)]))
    return out


def _merge(cols: Sequence[Column], path: Sequence[tuple[int, float, bool]]) -> tuple[str, ...]:
    """A path's splits as conditions: the tightest bound per side of a number, ``= v`` in
    place of every ``!=`` of the same choice."""
    lower: dict[int, float] = {}
    upper: dict[int, float] = {}
    equal: dict[str, int] = {}
    unequal: dict[str, list[int]] = {}
    for feature, threshold, above in path:
        col = cols[feature]
        if col.is_choice:
            if above:
                equal[col.param] = feature
            else:
                unequal.setdefault(col.param, []).append(feature)
        elif above:
            lower[feature] = max(threshold, lower.get(feature, -np.inf))
        else:
            upper[feature] = min(threshold, upper.get(feature, np.inf))
    out: list[str] = [condition_text(cols[feature], 0.5, True) for feature in equal.values()]
    for param, features in unequal.items():
        if param not in equal:
            out.extend(condition_text(cols[f], 0.5, False) for f in features)
    for feature in sorted(set(lower) | set(upper)):
        col = cols[feature]
        if feature in lower and feature in upper:
            low = condition_text(col, lower[feature], True).split(" > ")[1]
            high = condition_text(col, upper[feature], False).split(" <= ")[1]
            out.append(f"{low} < {col.param} <= {high}")
        elif feature in lower:
            out.append(condition_text(col, lower[feature], True))
        else:
            out.append(condition_text(col, upper[feature], False))
    return tuple(out)
