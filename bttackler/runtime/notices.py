"""What a run tells the user about its task, as pure bookkeeping (the scheduler says it):
a task whose first trials all fail (fail fast), and search-space parameters no trial reads."""

from __future__ import annotations

from pathlib import Path

from bttackler.core.verdict import plural


class FirstFailures:
    """The failures before any trial succeeded, and the one line that sums them up."""

    def __init__(self, limit: int, logs: Path) -> None:
        self.limit = limit  # fail fast after this many (0: never)
        self.logs = logs
        self.failures: list[tuple[int, str]] = []

    def failed(self, trial_id: int, reason: str | None) -> str | None:
        """Record a failure (call only while no trial succeeded); the failure line when it
        makes the ``limit``-th, else None."""
        self.failures.append((trial_id, reason or "failed"))
        if self.limit and len(self.failures) == self.limit:
            return self.summary(f"the first {self.limit} trials all failed")
        return None

    def summary(self, what: str) -> str:
        """``what``, the reason the failures share (or the first one's), and the first log."""
        if not self.failures:
            return what
        first_id, first = self.failures[0]
        log = self.logs / f"{first_id}.log"
        if all(reason == first for _, reason in self.failures):
            return f"{what}: {first} (see {log})"
        return f"{what}; trial {first_id}: {first} (see {log})"


class UnreadParams:
    """Search-space parameters no trial that ran to its end has read (a parameter read only
    under some condition, say momentum for sgd, is read by some trial): said once, after
    ``after`` such trials or at the run's end."""

    def __init__(self, after: int = 5) -> None:
        self.after = after
        self.completed = 0
        self._unread: set[str] | None = None
        self._said = False

    def completed_trial(self, note: str | None) -> str | None:
        """A trial ran to its end with ``note`` (``"unread:a,b"`` or None); the warning when
        it is due now."""
        unread = set()
        if note and note.startswith("unread:"):
            unread = set(note[len("unread:") :].split(","))
        self._unread = unread if self._unread is None else self._unread & unread
        self.completed += 1
        return self.warning() if self.completed == self.after else None

    def warning(self) -> str | None:
        """The warning, once, if any parameter is still unread."""
        if self._said or not self._unread:
            self._said = True
            return None
        self._said = True
        names = ", ".join(sorted(self._unread))
        return (
            f"the task never read search-space parameter(s) {names} in "
            f"{plural(self.completed, 'trial')}: a typo in the space or the task?"
        )
