"""``Mode``: the objective's direction, a ``str`` enum that reads and writes as ``"max"`` and
``"min"``, and the comparisons every module makes with it."""

from __future__ import annotations

import json
import math

import pytest

from bttackler.core.errors import BttacklerError
from bttackler.core.objective import Mode, is_better


def test_a_mode_is_its_string() -> None:
    assert Mode.MAX == "max" and Mode.MIN == "min"
    assert str(Mode.MAX) == "max" and f"{Mode.MIN}" == "min" and f"{Mode.MAX:>4}" == " max"
    assert json.dumps({"mode": Mode.MAX}) == '{"mode": "max"}'
    assert {"max": 1}[Mode.MAX] == 1
    assert Mode.MAX.verb == "maximize" and Mode.MIN.verb == "minimize"


def test_of_reads_strings_and_modes_and_refuses_anything_else_in_one_line() -> None:
    assert Mode.of("max") is Mode.MAX and Mode.of("min") is Mode.MIN
    assert Mode.of(Mode.MIN) is Mode.MIN
    for bad in ("MAX", "maximize", "", None, 1):
        with pytest.raises(BttacklerError, match=r'^mode must be "max" or "min", got ') as err:
            Mode.of(bad)
        assert "\n" not in str(err.value)
    with pytest.raises(BttacklerError, match=r'^run r: mode must be "max" or "min", got \'x\''):
        Mode.of("x", where="run r: mode")


def test_comparisons_follow_the_direction() -> None:
    assert Mode.MAX.better(2.0, 1.0) and not Mode.MAX.better(1.0, 1.0)
    assert Mode.MIN.better(1.0, 2.0) and not Mode.MIN.better(1.0, 1.0)
    assert Mode.MAX.at_least(1.0, 1.0) and Mode.MIN.at_least(1.0, 1.0)
    assert not Mode.MAX.at_least(0.5, 1.0) and not Mode.MIN.at_least(1.5, 1.0)
    assert Mode.MAX.best([1.0, 3.0, 2.0]) == 3.0 and Mode.MIN.best([1.0, 3.0, 2.0]) == 1.0
    assert Mode.MAX.ranked([1.0, 3.0, 2.0]) == [3.0, 2.0, 1.0]
    assert Mode.MIN.ranked([1.0, 3.0, 2.0]) == [1.0, 2.0, 3.0]
    assert not Mode.MAX.better(math.nan, 1.0) and not Mode.MIN.better(math.nan, 1.0)
    assert is_better(2.0, 1.0, "max") and is_better(1.0, 2.0, Mode.MIN)


def test_sign_puts_the_best_first_in_an_ascending_sort() -> None:
    values = [0.3, 0.9, 0.1]
    for mode in Mode:
        assert sorted(values, key=lambda v: mode.sign * v) == mode.ranked(values)
    assert Mode.MAX.sign == -1.0 and Mode.MIN.sign == 1.0
