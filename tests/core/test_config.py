"""Config layering, durations and validation."""

from pathlib import Path

import pytest

from bttackler.core.config import (
    deep_merge,
    format_duration,
    load_config,
    parse_duration,
    read_toml,
    run_settings,
    write_config,
)
from bttackler.core.errors import BttacklerError
from bttackler.core.objective import CountRule


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90s", 90),
        ("10m", 600),
        ("6h", 21600),
        ("1h30m", 5400),
        ("45", 45),
        ("1.5h", 5400),
        (30, 30),
        ("2d", 172800),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["6x", "-1h", "0", "", "h", "10m junk", "nan", True])
def test_bad_durations_name_the_value(text):
    with pytest.raises(BttacklerError, match="budget"):
        parse_duration(text, what="budget")


def test_format_duration():
    assert format_duration(65) == "1:05"
    assert format_duration(3725) == "1:02:05"


def test_defaults_file_is_valid_and_documented():
    settings = run_settings(load_config(cwd=Path("/nonexistent")))
    assert settings.task == "digits" and settings.method == "tpe"
    assert settings.workers >= 1 and settings.budget_seconds > 0


def test_user_file_overrides_defaults_key_by_key(tmp_path):
    user = tmp_path / "mine.toml"
    user.write_text("[run]\nworkers = 3\n")
    config = load_config(user)
    assert config["run"]["workers"] == 3
    assert config["run"]["method"] == "tpe"  # untouched default survives


def test_local_bttackler_toml_is_picked_up(tmp_path):
    (tmp_path / "bttackler.toml").write_text("[run]\nseed = 9\n")
    assert load_config(cwd=tmp_path)["run"]["seed"] == 9


def test_malformed_toml_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nworkers = ")
    with pytest.raises(BttacklerError, match="bad.toml is not valid TOML"):
        load_config(bad)


@pytest.mark.parametrize(
    "run, message",
    [
        ({"workers": "two"}, "workers"),
        ({"workers": 0}, "workers"),
        ({"seed": -1}, "seed"),
        ({"budget": "6x"}, "budget"),
        ({"bogus": 1}, "unknown key run.bogus"),
        ({"gpus": "some"}, "gpus"),
        ({"kill_grace": "1"}, "kill_grace"),
        ({"count": "final"}, r"run\.count must be one of last, best, got 'final'"),
    ],
)
def test_wrong_types_are_named(run, message):
    with pytest.raises(BttacklerError, match=message):
        run_settings({"run": run})


def test_count_rule_defaults_to_last_and_reads_best():
    assert run_settings({"run": {}}).count is CountRule.LAST
    assert run_settings({"run": {"count": "best"}}).count is CountRule.BEST
    assert run_settings(load_config()).count is CountRule.LAST  # the documented default


def test_snapshot_round_trips(tmp_path):
    config = deep_merge(
        load_config(cwd=Path("/nonexistent")), {"run": {"name": "x", "max_trials": None}}
    )
    write_config(config, tmp_path / "config.toml")
    again = read_toml(tmp_path / "config.toml")
    assert run_settings(again) == run_settings(config)
