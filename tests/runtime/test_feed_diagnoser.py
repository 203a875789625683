"""The monitor's events reach the diagnoser as histories and trial ends."""

from __future__ import annotations

from bttackler.core.history import EpochRecord, NonFiniteEvent, TrialHistory
from bttackler.runtime.monitor import EpochReported, NonFiniteSeen, TrialExited, feed_diagnoser


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def epoch_reported(self, history: TrialHistory) -> None:
        self.calls.append(("epoch", history.trial_id))

    def nonfinite_seen(self, history: TrialHistory) -> None:
        self.calls.append(("nonfinite", history.trial_id))

    def trial_ended(self, trial_id: int, completed: bool) -> None:
        self.calls.append(("ended", (trial_id, completed)))


def test_events_become_diagnoser_calls() -> None:
    history = TrialHistory(3, {}, 5, (EpochRecord(0, {"train_loss": 1.0}),))
    recorder = _Recorder()
    on_event = feed_diagnoser(recorder)  # type: ignore[arg-type]
    on_event(EpochReported(3, 0, 0, {}, (), 0.0, history))
    on_event(NonFiniteSeen(3, 0, NonFiniteEvent(0, 1, "fc", 1.0, 0.0), 0.1, history))
    on_event(TrialExited(3, 0, 0, 0, False, None, 0.2))
    on_event(TrialExited(4, 0, 0, 0, True, None, 0.3))  # killed: not completed
    on_event(TrialExited(5, 0, 1, 0, False, "boom", 0.4))  # failed: not completed
    assert recorder.calls == [
        ("epoch", 3),
        ("nonfinite", 3),
        ("ended", (3, True)),
        ("ended", (4, False)),
        ("ended", (5, False)),
    ]
