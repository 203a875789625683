"""Where a trial is, and which of its ends count: one home for both (the store, the ledger,
the metrics, the summaries and the model of trouble all ask here)."""

from __future__ import annotations

from enum import Enum


class TrialState(str, Enum):
    """Where a trial is. Only RUNNING is not final."""

    RUNNING = "running"
    FINISHED = "finished"  # ran to its end and reported its objective
    FAILED = "failed"  # raised, crashed, was killed by the OS, timed out, or reported nothing
    TERMINATED = "terminated"  # stopped early by a quality indicator or an ETR rule
    STOPPED = "stopped"  # still running when the budget ran out or the user pressed Ctrl-C
    INTERRUPTED = "interrupted"  # the run's process died under it; re-run on --resume
    SKIPPED = "skipped"  # proposed, predicted bad by --avoid-bad and never started

    def is_final(self) -> bool:
        return self is not TrialState.RUNNING


# Ends whose value ranks (Top10HR, the best trial, the summary): the trial ran to its end or a
# verdict judged it. Tuples, not sets: a stored state is a plain string, and ``in`` on a tuple
# compares with ==, which a str enum shares with its value (its hash it does not).
RANKED: tuple[TrialState, ...] = (TrialState.FINISHED, TrialState.TERMINATED)

# Ends with a known outcome: what the searcher is told (a failure as failed) and what the
# model of trouble learns from. A stopped or interrupted trial is no result; a skipped one
# was told when it was skipped.
OUTCOMES: tuple[TrialState, ...] = (*RANKED, TrialState.FAILED)
