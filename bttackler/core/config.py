"""Configuration: the project's ``bttackler.toml`` defaults, a user's file over them, flags last.

Layers, each overriding the one before key by key:
1. ``bttackler.toml`` (the documented defaults: the checkout's top level, or inside the wheel),
2. ``./bttackler.toml`` in the working directory, or the file given with ``--config``,
3. command-line flags.
A run writes the merged result to ``<run>/config.toml`` so it can be resumed and replayed.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
import tomllib

from bttackler.core.errors import BttacklerError
from bttackler.core.objective import COUNT_RULES, CountRule
from bttackler.core.resources import shipped

DEFAULTS_FILE = shipped("bttackler.toml")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | float | int, *, what: str = "duration") -> float:
    """``"6h"``, ``"90m"``, ``"1h30m"``, ``"45s"`` or a number of seconds -> seconds (> 0)."""
    if isinstance(text, bool):
        raise BttacklerError(f"{what} must be a duration like 90s, 10m or 6h, got {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        raw = str(text).strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", raw):
            seconds = float(raw)
        else:
            parts = _DURATION_PART.findall(raw)
            if not parts or _DURATION_PART.sub("", raw).strip():
                raise BttacklerError(
                    f"{what} must be a duration like 90s, 10m, 6h or 1h30m, got {text!r}"
                )
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise BttacklerError(f"{what} must be positive, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise BttacklerError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise BttacklerError(f"config file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise BttacklerError(f"config file {path} cannot be read: {exc.strerror}") from exc


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_config(user_file: Path | None = None, *, cwd: Path | None = None) -> dict[str, Any]:
    """Defaults, then ``user_file`` (or ``./bttackler.toml`` if present)."""
    config = read_toml(DEFAULTS_FILE) if DEFAULTS_FILE.is_file() else {}
    if user_file is None:
        local = (cwd or Path.cwd()) / "bttackler.toml"
        if local.is_file() and local.resolve() != DEFAULTS_FILE.resolve():
            user_file = local
    if user_file is not None:
        config = deep_merge(config, read_toml(user_file))
    return config


def write_config(config: Mapping[str, Any], path: Path) -> None:
    path.write_text(
        "# Effective configuration of this run (defaults + config file + flags).\n"
        + tomli_w.dumps(_drop_none(config))
    )


def _drop_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """The validated ``[run]`` table."""

    task: str
    space: str | None
    method: str
    budget_seconds: float
    max_trials: int | None
    workers: int
    seed: int
    results_dir: Path
    name: str | None
    trial_timeout: float | None
    kill_grace: float
    ring_capacity: int
    gpus: str
    task_options: Mapping[str, str]
    data_dir: str | None
    diagnosis: bool
    trace: bool
    etr: str | None
    count: CountRule = CountRule.LAST
    fail_fast: int = 3  # stop when this many first trials all failed (0: never)
    backend: str = "local"  # where trials run: "local" processes or "ray" actors
    ray_address: str | None = None  # the Ray cluster to join (None: RAY_ADDRESS or a new one)
    cpus_per_trial: int = 1  # CPUs a Ray slot asks for (clusters without GPUs)
    grid_shuffle: bool = False  # --method grid: a seeded order instead of the file's
    avoid_bad: bool = False  # --avoid-bad: skip configurations the model of trouble finds bad
    avoid_learn_from: tuple[str, ...] = ()  # earlier runs of the space the model starts from


def run_settings(config: Mapping[str, Any]) -> RunSettings:
    """Validate the ``[run]`` and ``[diagnosis]`` tables into :class:`RunSettings`."""
    run = config.get("run", {})
    if not isinstance(run, Mapping):
        raise BttacklerError("config: [run] must be a table")
    diag = config.get("diagnosis", {})
    if not isinstance(diag, Mapping):
        raise BttacklerError("config: [diagnosis] must be a table")
    known = {
        "task", "space", "method", "budget", "max_trials", "workers", "seed", "results_dir",
        "name", "trial_timeout", "kill_grace", "ring_capacity", "gpus", "task_options",
        "data_dir", "etr", "count", "fail_fast", "backend", "ray_address", "cpus_per_trial",
        "grid_shuffle", "avoid_bad", "avoid_learn_from",
    }  # fmt: skip
    unknown = sorted(set(run) - known)
    if unknown:
        raise BttacklerError(f"config: unknown key run.{unknown[0]}")
    timeout = run.get("trial_timeout")
    learn_from = _str_list(run, "avoid_learn_from")
    return RunSettings(
        task=_str(run, "task", "digits"),
        space=_opt_str(run, "space"),
        method=_str(run, "method", "tpe"),
        budget_seconds=parse_duration(run.get("budget", "10m"), what="budget"),
        max_trials=_opt_int(run, "max_trials", minimum=1),
        workers=_int(run, "workers", 1, minimum=1),
        seed=_int(run, "seed", 0, minimum=0),
        results_dir=Path(_str(run, "results_dir", "results")).expanduser(),
        name=_opt_str(run, "name"),
        trial_timeout=None
        if timeout in (None, "", 0, "none")
        else parse_duration(timeout, what="trial_timeout"),
        kill_grace=_float(run, "kill_grace", 0.5, minimum=0.0),
        ring_capacity=_int(run, "ring_capacity", 8192, minimum=16),
        gpus=_choice(run, "gpus", "auto", ("auto", "none")),
        task_options={str(k): str(v) for k, v in dict(run.get("task_options") or {}).items()},
        data_dir=_opt_str(run, "data_dir"),
        diagnosis=_bool(diag, "enabled", True),
        trace=_bool(diag, "trace", True),
        etr=_opt_str(run, "etr"),
        count=CountRule(_choice(run, "count", CountRule.LAST.value, COUNT_RULES)),
        fail_fast=_int(run, "fail_fast", 3, minimum=0),
        backend=_choice(run, "backend", "local", BACKENDS),
        ray_address=_ray_address(run),
        cpus_per_trial=_int(run, "cpus_per_trial", 1, minimum=1),
        grid_shuffle=_bool(run, "grid_shuffle", False),
        avoid_bad=_bool(run, "avoid_bad", False) or bool(learn_from),
        avoid_learn_from=learn_from,
    )


BACKENDS = ("local", "ray")


def _str_list(table: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise BttacklerError(f"config: run.{key} must be a list of paths, got {value!r}")
    return tuple(value)


def _ray_address(run: Mapping[str, Any]) -> str | None:
    address = _opt_str(run, "ray_address")
    if address is not None and run.get("backend", "local") != "ray":
        raise BttacklerError("ray_address (--ray-address) is for backend ray (--backend ray)")
    return address


def _str(table: Mapping[str, Any], key: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise BttacklerError(f"config: run.{key} must be a non-empty string, got {value!r}")
    return value


def _opt_str(table: Mapping[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BttacklerError(f"config: run.{key} must be a string, got {value!r}")
    return value


def _int(table: Mapping[str, Any], key: str, default: int, *, minimum: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BttacklerError(f"config: {key} must be an integer >= {minimum}, got {value!r}")
    return value


def _opt_int(table: Mapping[str, Any], key: str, *, minimum: int) -> int | None:
    if table.get(key) in (None, 0):
        return None
    return _int(table, key, 0, minimum=minimum)


def _float(table: Mapping[str, Any], key: str, default: float, *, minimum: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise BttacklerError(f"config: {key} must be a number >= {minimum}, got {value!r}")
    return float(value)


def _bool(table: Mapping[str, Any], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise BttacklerError(f"config: {key} must be true or false, got {value!r}")
    return value


def _choice(table: Mapping[str, Any], key: str, default: str, choices: tuple[str, ...]) -> str:
    value = table.get(key, default)
    if value not in choices:
        raise BttacklerError(
            f"config: run.{key} must be one of {', '.join(choices)}, got {value!r}"
        )
    return str(value)
