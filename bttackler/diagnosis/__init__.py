"""Diagnosis: the rules that judge a trial's history, and the diagnoser that runs them.

Where it runs: in the main process (the diagnoser's threads), in ``replay`` after the fact, and
in the integrations. What it may import: :mod:`bttackler.core` only — it receives histories,
never monitor events, and knows nothing of slots, processes or the store.

- :mod:`.indicators`: the seven quality indicators of the paper (and custom ones);
- :mod:`.etr`: the accuracy-based early-termination rules (LCE, MSR);
- :mod:`.guard`: the guard that spares trials among the best at their epoch count;
- :mod:`.rule`: the :class:`Rule` protocol all of them satisfy;
- :mod:`.diagnoser`: every rule on its own thread, fed with histories.
"""

from bttackler.diagnosis.diagnoser import (
    Diagnoser,
    FinishedTrials,
    RuleAsIndicator,
    VerdictSink,
    build_etr_rule,
    build_from_config,
    make_diagnoser_factory,
)
from bttackler.diagnosis.guard import Cohort, Guard, GuardSettings, guard_settings, is_protected
from bttackler.diagnosis.rule import EtrRule, Rule

__all__ = [
    "Cohort",
    "Diagnoser",
    "EtrRule",
    "FinishedTrials",
    "Guard",
    "GuardSettings",
    "Rule",
    "RuleAsIndicator",
    "VerdictSink",
    "build_etr_rule",
    "build_from_config",
    "guard_settings",
    "is_protected",
    "make_diagnoser_factory",
]
