"""The search space's encoding for the trouble model, and splits read back in its words."""

from __future__ import annotations

import math

import pytest

from bttackler.core.space import space_from_mapping
from bttackler.diagnosis.encoding import columns, condition_text, encode

SPACE = space_from_mapping(
    {
        "lr": {"_type": "loguniform", "_value": [1e-4, 1.0]},
        "depth": {"_type": "randint", "_value": [1, 9]},
        "opt": {"_type": "choice", "_value": ["sgd", "adam", True]},
    }
)


def test_numbers_on_their_scale_and_one_column_per_choice() -> None:
    cols = columns(SPACE)
    assert [c.label for c in cols] == ["lr", "depth", "opt=sgd", "opt=adam", "opt=True"]
    rows = encode(cols, [{"lr": 0.01, "depth": 3, "opt": "adam"}, {"lr": 1.0, "opt": True}])
    assert rows[0].tolist() == pytest.approx([-2.0, 3.0, 0.0, 1.0, 0.0])
    assert rows[1][0] == 0.0 and math.isnan(rows[1][1])  # a missing value
    assert rows[1][2:].tolist() == [0.0, 0.0, 1.0]  # True is not 1 and not "True"


def test_splits_read_in_the_parameters_own_words() -> None:
    lr, depth, sgd = columns(SPACE)[:3]
    assert condition_text(lr, -0.5, True) == "lr > 0.316"  # 10 ** -0.5
    assert condition_text(depth, 4.5, False) == "depth <= 4.5"
    assert condition_text(sgd, 0.5, True) == "opt = sgd"
    assert condition_text(sgd, 0.5, False) == "opt != sgd"
