"""build_indicators: the [indicators] table, its errors, and custom indicators."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bttackler.core.errors import BttacklerError
from bttackler.core.history import EpochRecord, TrialHistory
from bttackler.core.verdict import Verdict
from bttackler.diagnosis.indicators import (
    INDICATORS,
    AbnormalGradientValues,
    CustomIndicator,
    ExponentiallyReducedGradients,
    NoMoreGain,
    build_indicators,
    in_stage,
)


def history(n: int, max_epochs: int = 10, loss: float = 1.0) -> TrialHistory:
    epochs = tuple(EpochRecord(epoch=i, metrics={"train_loss": loss}) for i in range(n))
    return TrialHistory(trial_id=0, params={}, max_epochs=max_epochs, epochs=epochs)


def test_in_stage() -> None:
    assert in_stage("early", history(5), 0.5) and not in_stage("late", history(5), 0.5)
    assert in_stage("late", history(6), 0.5) and not in_stage("early", history(6), 0.5)
    assert in_stage("any", history(6), 0.5)
    assert in_stage("early", history(3, max_epochs=10), 0.3)  # 0.3 * 10 = 3.0000000000000004
    with pytest.raises(ValueError, match="stage"):
        in_stage("middle", history(1), 0.5)


def test_defaults_give_the_paper_s_seven_then_the_pace_indicators() -> None:
    built = build_indicators({})
    assert [i.short_name for i in built] == [
        *("AGV", "EAG", "ERG", "PLC", "LAR", "ULC", "NMG"),
        *("TWU", "VGM", "SAC", "LAR1"),
    ]
    assert set(INDICATORS) - {i.short_name for i in built} == {"PLC1"}  # off by default


def test_table_sets_enabled_settings_and_early_fraction() -> None:
    config = {  # as tomllib parses it
        "enabled": ["ERG", "AGV", "ERG"],
        "early_fraction": 0.4,
        "ERG": {"lower_bound": 0.001},
        "AGV": {"max_abs_gradient": 100},
    }
    erg, agv = build_indicators(config)
    assert isinstance(erg, ExponentiallyReducedGradients) and erg.settings.lower_bound == 0.001
    assert isinstance(agv, AbnormalGradientValues)
    assert agv.settings.max_abs_gradient == 100.0 and isinstance(
        agv.settings.max_abs_gradient, float
    )
    assert erg.early_fraction == 0.4


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"enabeld": ["AGV"]}, "indicators.enabeld"),
        ({"enabled": ["XYZ"]}, "indicators.enabled: unknown indicator 'XYZ'"),
        ({"enabled": "AGV"}, "indicators.enabled"),
        ({"early_fraction": 2}, "indicators.early_fraction"),
        ({"early_fraction": True}, "indicators.early_fraction"),
        ({"ERG": {"lowerbound": 0.1}}, "indicators.ERG.lowerbound"),
        ({"ERG": {"lower_bound": "small"}}, "indicators.ERG.lower_bound"),
        (
            {"ERG": {"lower_bound": -1.0}},
            "indicators.ERG.lower_bound must be a finite number > 0, got -1.0",
        ),
        ({"PLC": {"min_epochs": 2.5}}, "indicators.PLC.min_epochs"),
        ({"LAR": {"threshold": True}}, "indicators.LAR.threshold"),
        ({"NMG": 3}, "indicators.NMG must be a table"),
        ({"custom": {"AGV": "x:y"}}, "indicators.custom.AGV"),
        ({"custom": {"MINE": 3}}, "indicators.custom.MINE"),
        ({"custom": {"MINE": "no_colon"}}, "indicators.custom.MINE"),
        ({"custom": {"MINE": "no_such_module_xyz:f"}}, "indicators.custom.MINE: cannot import"),
        ({"custom": {"MINE": "math:no_such"}}, "indicators.custom.MINE"),
        ({"custom": {"MINE": "math:pi"}}, "not callable"),
        ({"custom": {"MINE": "missing/file.py:f"}}, "no such file"),
    ],
)
def test_config_errors_name_the_key(config: dict[str, object], message: str) -> None:
    with pytest.raises(BttacklerError, match=message.replace("(", r"\(")) as info:
        build_indicators(config)
    assert "\n" not in str(info.value)


def test_disabled_indicator_settings_still_validated() -> None:
    with pytest.raises(BttacklerError, match="indicators.ULC.min_window"):
        build_indicators({"enabled": ["AGV"], "ULC": {"min_window": 1}})


PLUGIN = """
from bttackler.core.verdict import Verdict

STAGE = "late"

def too_long(history):
    return "ran too long" if len(history.epochs) > 6 else None

def flag(history):
    return len(history.epochs) >= 1

flag.stage = "any"

def full(history):
    return Verdict(indicator="FULL", rule="always", epoch=0, values={"x": 1.0})

def bad(history):
    return 3.5
"""


@pytest.fixture
def plugin_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_indicators.py"
    path.write_text(PLUGIN)
    return path


def test_custom_indicator_from_file(plugin_file: Path) -> None:
    built = build_indicators(
        {
            "enabled": ["NMG", "LONG"],
            "custom": {
                "LONG": f"{plugin_file}:too_long",
                "FLAG": "my_indicators.py:flag",
                "FULL": f"{plugin_file}:full",
            },
        },
        base_dir=plugin_file.parent,
    )
    assert [i.short_name for i in built] == ["NMG", "LONG", "FLAG", "FULL"]
    nmg, long_, flag, full = built
    assert isinstance(nmg, NoMoreGain) and isinstance(long_, CustomIndicator)
    assert long_.stage == "late" and flag.stage == "any"  # module STAGE / function attribute
    assert long_.check(history(5)) is None  # early stage
    v = long_.check(history(7))
    assert v == Verdict(indicator="LONG", rule="ran too long", epoch=7, values={})  # counted from 1
    fv = flag.check(history(1))
    assert fv is not None and fv.indicator == "FLAG"
    assert flag.check(history(0)) is None
    assert full.check(history(7)) == Verdict("FULL", "always", 7, {"x": 1.0})  # dated by count


def test_custom_indicator_from_module(plugin_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(plugin_file.parent))
    monkeypatch.delitem(sys.modules, "my_indicators", raising=False)
    (ind,) = build_indicators({"enabled": [], "custom": {"LONG": "my_indicators:too_long"}})
    assert ind.stage == "late" and ind.check(history(7)) is not None


def test_custom_indicator_bad_return_type(plugin_file: Path) -> None:
    (ind,) = build_indicators({"enabled": [], "custom": {"BAD": f"{plugin_file}:bad"}})
    with pytest.raises(BttacklerError, match="BAD returned float"):
        ind.check(history(7))


def test_custom_indicator_bad_stage(tmp_path: Path) -> None:
    path = tmp_path / "staged.py"
    path.write_text("STAGE = 'middle'\ndef f(history):\n    return None\n")
    with pytest.raises(BttacklerError, match="indicators.custom.X: .*stage 'middle'"):
        build_indicators({"custom": {"X": f"{path}:f"}})


def test_custom_indicator_import_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(
        BttacklerError,
        match="indicators.custom.X: custom indicator file .* failed to import: RuntimeError: boom",
    ):
        build_indicators({"custom": {"X": f"{path}:f"}})
