"""What a run tells about its task: fail fast on the first failures, unread parameters."""

from __future__ import annotations

from pathlib import Path

from bttackler.runtime.notices import FirstFailures, UnreadParams


def test_the_limit_th_failure_gives_one_line_with_the_shared_reason_and_the_log() -> None:
    watch = FirstFailures(3, Path("run/trials"))
    assert watch.failed(1, "raised ValueError: x") is None
    assert watch.failed(2, "raised ValueError: x") is None
    line = watch.failed(3, "raised ValueError: x")
    assert line == "the first 3 trials all failed: raised ValueError: x (see run/trials/1.log)"


def test_different_reasons_name_the_first_trial_and_zero_never_stops() -> None:
    watch = FirstFailures(2, Path("t"))
    watch.failed(4, "a")
    assert watch.failed(5, "b") == "the first 2 trials all failed; trial 4: a (see t/4.log)"
    assert FirstFailures(0, Path("t")).failed(1, "a") is None


def test_a_parameter_read_by_some_trial_is_not_unread_and_the_warning_comes_once() -> None:
    unread = UnreadParams(after=3)
    assert unread.completed_trial("unread:momentum,typo") is None
    assert unread.completed_trial("unread:typo") is None
    warning = unread.completed_trial("unread:typo,momentum")
    assert warning is not None and "parameter(s) typo in 3 trials" in warning
    assert unread.warning() is None  # said once


def test_nothing_unread_or_no_completed_trial_says_nothing() -> None:
    assert UnreadParams().warning() is None
    unread = UnreadParams(after=2)
    unread.completed_trial(None)
    assert unread.completed_trial("unread:x") is None
