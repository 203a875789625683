"""Steering the search away from bad trials (``--avoid-bad``): a model of trouble, asked before
a configuration starts.

Every verdict is a labelled example: this configuration trained badly. :class:`TroubleModel`
learns P(bad | configuration) from the trials with a known outcome so far — a random forest
(scikit-learn's: a well-kept library; it needs no scaling, takes the encoding's one-hot
choices and log-scaled numbers as they are, and gives usable probabilities from a few dozen
trials) on :mod:`~bttackler.diagnosis.encoding`'s columns. :class:`Avoider` asks it about
each proposed configuration: one predicted bad with P >= ``threshold`` is skipped — the
searcher is told it as a failed trial (its own interface for infeasible points: the worst
value seen for TPE, GP and SMAC, nothing for random and grid) and asked again — except for an
exploration floor: a share ``explore`` of the predicted-bad configurations still runs, so the
model can be proven wrong, and its outcome updates the model. Nothing is skipped before the
model has ``min_trials`` examples with at least ``min_each`` bad and ``min_each`` good ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bttackler.core.errors import BttacklerError
from bttackler.core.space import SearchSpace
from bttackler.core.store import ReadOnlyStore, TrialRow
from bttackler.core.trial_state import OUTCOMES
from bttackler.core.verdict import Verdict
from bttackler.diagnosis.encoding import columns, encode
from bttackler.diagnosis.etr import ETR_INDICATORS
from bttackler.diagnosis.settings_table import check_int_at_least, require, settings_from_table


@dataclass(frozen=True, kw_only=True)
class AvoidSettings:
    """``[avoid]`` in ``bttackler.toml``.

    Attributes:
        threshold: P(bad) at or above which a configuration is skipped. Default 0.5:
            skipped when more likely bad than good (chosen on the fashionmlp and
            diabetesmlp pools, simulated, among 0.5-0.8: fewer bad trials started and no
            lower Top10HR at every value; checked held out on digits-wide).
        explore: Share of the predicted-bad configurations that still run. Default 0.1
            (0.1 and 0.2 tied on those pools; every bad one run is time lost).
        min_trials: Trials with a known outcome before anything is skipped. Default 30: at
            12, a model of few trials is sure too early (on recorded runs replayed in start
            order, at threshold 0.5 it would have skipped the best trial of 2 runs of 17;
            at 30, of none).
        min_each: Of those, at least this many bad and this many good. Default 3.
        refit_every: New outcomes between two fits of the model. Default 3.
        max_skips: Proposals skipped in a row before the next one runs anyway (a searcher
            stuck in a bad region must not stall the run). Default 20.
    """

    threshold: float = 0.5
    explore: float = 0.1
    min_trials: int = 30
    min_each: int = 3
    refit_every: int = 3
    max_skips: int = 20

    def __post_init__(self) -> None:
        ok = isinstance(self.threshold, float | int) and 0 < self.threshold <= 1
        require(ok, "threshold", self.threshold, "a number in (0, 1]")
        ok = isinstance(self.explore, float | int) and 0 <= self.explore <= 1
        require(ok, "explore", self.explore, "a number in [0, 1]")
        check_int_at_least("min_trials", self.min_trials, 2)
        check_int_at_least("min_each", self.min_each, 1)
        check_int_at_least("refit_every", self.refit_every, 1)
        check_int_at_least("max_skips", self.max_skips, 1)


def is_problem(verdict: Verdict) -> bool:
    """A verdict that says the trial is broken: a problem indicator's, not a benign one (NMG,
    converged) nor an accuracy rule's (LCE, MSR, ASHA, Hyperband: worse, not broken)."""
    return not verdict.benign and verdict.indicator not in ETR_INDICATORS


def outcomes(
    rows: Iterable[TrialRow], verdicts: Iterable[Mapping[str, Any]]
) -> list[tuple[dict[str, Any], bool]]:
    """What a run teaches the model of trouble: (configuration, bad) of every trial with a
    known outcome; bad when it failed or a problem verdict came for it (acted on or only
    recorded, as in a ``--no-diagnosis`` run)."""
    problems = {
        int(v["trial_id"])
        for v in verdicts
        if is_problem(Verdict(v["indicator"], v["rule"], v["epoch"], v["values"], v["benign"]))
    }
    return [
        (dict(row.params), row.state == "failed" or row.id in problems)
        for row in rows
        if row.state in OUTCOMES
    ]


def outcomes_of_runs(
    runs: Sequence[str | Path], space: SearchSpace
) -> list[tuple[dict[str, Any], bool]]:
    """The outcomes of earlier runs (``--avoid-learn-from``), checked to be of the same
    search space: every trial's parameters are the space's (one clear error otherwise)."""
    names = set(space.names)
    examples: list[tuple[dict[str, Any], bool]] = []
    for run in runs:
        store = ReadOnlyStore.open(Path(run).expanduser())
        try:
            found = outcomes(store.trials(), store.verdicts())
        finally:
            store.close()
        unknown = sorted({k for p, _ in found for k in p} - names)
        if unknown:
            raise BttacklerError(
                f"--avoid-learn-from {run}: its trials were searched over other parameters "
                f"({', '.join(unknown)} not in this search space)"
            )
        examples += found
    return examples


def avoid_settings(table: Any) -> AvoidSettings:
    """:class:`AvoidSettings` from the ``[avoid]`` table (raises BttacklerError naming a bad
    key or value)."""
    return settings_from_table(AvoidSettings, table, "avoid")


class TroubleModel:
    """P(bad | configuration) from labelled configurations (module docstring)."""

    def __init__(self, space: SearchSpace, *, seed: int = 0) -> None:
        self.cols = columns(space)
        self.seed = seed
        self.configs: list[Mapping[str, Any]] = []
        self.bad: list[bool] = []
        self._forest: Any = None
        self._fitted_on = 0

    def observe(self, params: Mapping[str, Any], bad: bool) -> None:
        self.configs.append(dict(params))
        self.bad.append(bool(bad))

    @property
    def counts(self) -> tuple[int, int]:
        """(bad, good) examples so far."""
        n_bad = sum(self.bad)
        return n_bad, len(self.bad) - n_bad

    def stale(self, every: int) -> bool:
        """Never fitted, or ``every`` outcomes came since the last fit."""
        return self._forest is None or len(self.bad) - self._fitted_on >= every

    def fit(self) -> None:
        from sklearn.ensemble import RandomForestClassifier

        x = np.nan_to_num(encode(self.cols, self.configs), nan=-1e9)
        self._forest = RandomForestClassifier(
            n_estimators=30, min_samples_leaf=2, random_state=self.seed, n_jobs=1
        ).fit(x, np.array(self.bad))
        self._fitted_on = len(self.bad)

    def probability(self, params: Mapping[str, Any]) -> float:
        """P(bad) of ``params`` under the last fit (0.5 before any fit)."""
        if self._forest is None:
            return 0.5
        x = np.nan_to_num(encode(self.cols, [params]), nan=-1e9)
        classes = list(self._forest.classes_)
        if True not in classes:
            return 0.0
        return float(self._forest.predict_proba(x)[0][classes.index(True)])


@dataclass(frozen=True)
class Skip:
    """Why a configuration was skipped."""

    probability: float
    examples: int
    bad: int

    def reason(self) -> str:
        return (
            f"avoid-bad: P(bad) {self.probability:.2f} from a model of {self.examples} trials "
            f"({self.bad} bad)"
        )


class Avoider:
    """Decides, per proposed configuration, whether it runs (module docstring)."""

    def __init__(self, space: SearchSpace, settings: AvoidSettings | None = None, *,
                 seed: int = 0) -> None:  # fmt: skip
        self.settings = settings or AvoidSettings()
        self.model = TroubleModel(space, seed=seed)
        self._rng = np.random.default_rng(seed + 7919)
        self._in_a_row = 0
        self.skipped = 0
        self.explored = 0  # predicted bad, run anyway

    def observe(self, params: Mapping[str, Any], bad: bool) -> None:
        """A trial's outcome is known: bad (a problem verdict, or it failed) or not."""
        self.model.observe(params, bad)

    def learn(self, examples: Iterable[tuple[Mapping[str, Any], bool]]) -> None:
        """Outcomes known before this search (earlier runs, or this run before a resume)."""
        for params, bad in examples:
            self.model.observe(params, bad)

    def ready(self) -> bool:
        n_bad, n_good = self.model.counts
        s = self.settings
        return n_bad + n_good >= s.min_trials and min(n_bad, n_good) >= s.min_each

    def judge(self, params: Mapping[str, Any]) -> Skip | None:
        """A :class:`Skip` when ``params`` should not run, else None (it runs)."""
        s = self.settings
        if not self.ready():
            return None
        if self.model.stale(s.refit_every):
            self.model.fit()
        p = self.model.probability(params)
        if p < s.threshold:
            self._in_a_row = 0
            return None
        if self._in_a_row >= s.max_skips or self._rng.random() < s.explore:
            self._in_a_row = 0
            self.explored += 1
            return None
        self._in_a_row += 1
        self.skipped += 1
        n_bad, n_good = self.model.counts
        return Skip(p, n_bad + n_good, n_bad)
