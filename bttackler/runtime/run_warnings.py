"""What a run warns of, said once: in the live view or log now, in the summary at the end,
and in the store's ``warnings`` (``trials``, ``report`` and the dashboard show them).

Among them the errors of the rules and the monitor: a custom indicator with a bug judges
nothing and would otherwise fail in silence.
"""

from __future__ import annotations

from collections.abc import Sequence

from bttackler.core.store import Store
from bttackler.diagnosis.diagnoser import RuleError
from bttackler.runtime.recorder import TrialRecorder
from bttackler.runtime.snapshot import View


class RunWarnings:
    """The run's warnings, each said once where the user looks."""

    def __init__(self, view: View, store: Store) -> None:
        self.view = view
        self.store = store
        self.lines: list[str] = []

    def warn(self, text: str) -> None:
        self.lines.append(f"warning: {text}")
        self.view.event(self.lines[-1])
        self.store.set_meta(warnings=self.lines)


class ErrorReport:
    """Rule and monitor errors, reported as they accumulate: the first error of each rule (or
    of the monitor) as a warning; each rule's first error per trial in the store (``trials
    --json`` names it for that trial); every error's count in the store's
    ``diagnosis_errors``."""

    def __init__(self, warnings: RunWarnings, recorder: TrialRecorder) -> None:
        self.warnings = warnings
        self.recorder = recorder
        self._seen = 0  # errors reported so far (rules' and monitor's)
        self._rules_seen = 0  # rule errors stored so far
        self._warned: set[str] = set()

    def report(
        self, rule_errors: Sequence[RuleError], monitor_errors: Sequence[object], now: float
    ) -> None:
        """Take in the errors so far (both lists only grow)."""
        errors: list[tuple[str, str]] = [(e.rule, str(e)) for e in rule_errors]
        errors += [("monitor", f"monitor: {e}") for e in monitor_errors]
        if len(errors) == self._seen:
            return
        for e in rule_errors[self._rules_seen :]:
            self.recorder.rule_error(e.trial_id, e.rule, e.error, now)
        self._rules_seen = len(rule_errors)
        for source, text in errors[self._seen :]:
            if source not in self._warned:
                self._warned.add(source)
                self.warnings.warn(f"{source} raised and judged nothing there ({text}); it goes "
                                   "on, and later errors are only counted (meta "
                                   "diagnosis_errors)")  # fmt: skip
        self._seen = len(errors)
        self.recorder.store.set_meta(diagnosis_errors=len(errors))
