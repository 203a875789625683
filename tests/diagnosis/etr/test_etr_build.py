"""build_etr: the [etr] table to a rule, and one-line errors naming the bad key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from bttackler.core.errors import BttacklerError
from bttackler.diagnosis.etr import (
    LearningCurveExtrapolation,
    LearningCurveSettings,
    MedianStop,
    MedianStopSettings,
    build_etr,
)


def test_defaults() -> None:
    rule = build_etr("lce", {}, objective="val_acc", mode="max")
    assert isinstance(rule, LearningCurveExtrapolation)
    assert rule.settings == LearningCurveSettings()
    assert (rule.settings.start_step, rule.settings.threshold, rule.settings.gap) == (6, 0.95, 1)
    msr = build_etr("msr", {}, objective="mse", mode="min")
    assert isinstance(msr, MedianStop)
    assert msr.settings == MedianStopSettings()
    # Optuna MedianPruner's start-up and warm-up, not NNI's 1 and 1
    assert (msr.settings.start_step, msr.settings.min_finished) == (2, 5)
    assert isinstance(build_etr("lce", {}, objective="mse", mode="min"), LearningCurveExtrapolation)


def test_shipped_defaults_file_matches_the_settings() -> None:
    from bttackler.core.config import load_config

    etr = load_config(cwd=Path("/nonexistent"))["etr"]
    assert build_etr("msr", etr, objective="mse", mode="min").settings == MedianStopSettings()
    lce = build_etr("lce", etr, objective="val_acc", mode="max")
    assert lce.settings == LearningCurveSettings()


def test_settings_from_the_table() -> None:
    config = {"lce": {"start_step": 10, "threshold": 1, "upper": math.inf}, "msr": {}}
    rule = build_etr("lce", config, objective="val_acc", mode="max")
    assert rule.settings == LearningCurveSettings(start_step=10, threshold=1.0, upper=math.inf)
    assert isinstance(rule.settings.threshold, float)


@pytest.mark.parametrize(
    ("name", "config", "mode", "message"),
    [
        (
            "lcx",
            {},
            "max",
            "unknown early-termination rule 'lcx' (known: lce, msr, asha, hyperband)",
        ),
        ("lce", {"median": {}}, "max", "unknown key etr.median (known: lce, msr, asha, hyperband)"),
        ("lce", {"lce": {"start": 3}}, "max", "unknown key etr.lce.start (known: start_step,"),
        ("lce", {"lce": {"threshold": "high"}}, "max", "etr.lce.threshold must be a number"),
        ("lce", {"lce": {"gap": 1.5}}, "max", "etr.lce.gap must be an integer, got 1.5"),
        ("lce", {"lce": {"gap": True}}, "max", "etr.lce.gap must be an integer, got True"),
        ("lce", {"lce": {"gap": 0}}, "max", "etr.lce.gap must be an integer >= 1, got 0"),
        ("lce", {"lce": {"threshold": -1}}, "max", "etr.lce.threshold must be a finite number"),
        ("lce", {"lce": {"lower": 2}}, "max", "etr.lce.upper must be > lower (2.0), got 1.0"),
        ("lce", {"lce": 3}, "max", "etr.lce must be a table, got 3"),
        ("msr", {"lce": {"gap": 0}}, "max", "etr.lce.gap must be"),  # validated when unused
        ("msr", {"msr": {"start_step": 0}}, "min", "etr.msr.start_step must be an integer >= 1"),
        ("msr", {"msr": {"min_finished": 0}}, "min", "etr.msr.min_finished must be an integer"),
        ("msr", [], "max", "etr must be a table"),
    ],
)
def test_errors_name_the_key(name: str, config: Any, mode: str, message: str) -> None:
    with pytest.raises(BttacklerError) as info:
        build_etr(name, config, objective="val_acc", mode=mode)
    text = str(info.value)
    assert text.startswith(message)
    assert "\n" not in text
