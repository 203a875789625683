from __future__ import annotations

import json
import math

import pytest

from bttackler.core.verdict import Verdict


def test_round_trip_through_dict_and_json() -> None:
    v = Verdict(
        indicator="ERG",
        rule="median gradient ratio 0.0008 < 0.02",
        epoch=3,
        values={"median_ratio": 0.0008, "lower_bound": 0.02},
    )
    d = v.to_dict()
    assert d == {
        "indicator": "ERG",
        "rule": "median gradient ratio 0.0008 < 0.02",
        "epoch": 3,
        "values": {"median_ratio": 0.0008, "lower_bound": 0.02},
        "benign": False,
    }
    assert Verdict.from_dict(json.loads(json.dumps(d))) == v


def test_values_are_read_only_floats_and_nan_survives() -> None:
    v = Verdict(indicator="AGV", rule="r", epoch=0, values={"n": 2, "loss": math.nan}, benign=True)
    assert isinstance(v.values["n"], float)
    with pytest.raises(TypeError):
        v.values["n"] = 3.0  # type: ignore[index]
    back = Verdict.from_dict(v.to_dict())
    assert back.benign and math.isnan(back.values["loss"])
    hash(v)  # frozen and hashable despite the mapping


@pytest.mark.parametrize(
    "data",
    [
        {"indicator": "X", "rule": "r", "epoch": 1},
        {"indicator": "X", "rule": "r", "epoch": 1, "values": {}, "extra": 1},
        {"indicator": "X", "rule": "r", "epoch": "1", "values": {}},
        {"indicator": "X", "rule": "r", "epoch": 1, "values": [1]},
        {"indicator": "X", "rule": "r", "epoch": 1, "values": {}, "benign": "yes"},
    ],
)
def test_from_dict_rejects_bad_data(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Verdict.from_dict(data)
