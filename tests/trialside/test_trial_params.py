"""The trial's parameters remember which ones the task read."""

from __future__ import annotations

from bttackler.trialside.trial import ReadTrackingParams


def test_indexing_get_and_in_count_as_reading() -> None:
    params = ReadTrackingParams({"lr": 0.1, "momentum": 0.9, "typo": 1, "depth": 3})
    assert params["lr"] == 0.1 and params.get("momentum") == 0.9 and "depth" in params
    assert params.unread() == ["typo"]


def test_iterating_or_unpacking_reads_them_all() -> None:
    params = ReadTrackingParams({"a": 1, "b": 2})
    assert dict(**params) == {"a": 1, "b": 2}
    assert params.unread() == []
    copied = ReadTrackingParams({"a": 1, "b": 2})
    assert dict(copied) == {"a": 1, "b": 2}
    assert copied.unread() == []
