"""Command-line flags to configuration: the one mapping ``run`` and ``compare --task`` share."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bttackler.core.config import load_config, parse_duration
from bttackler.core.errors import BttacklerError

# Flags that set the ``[run]`` key of the same name when given.
RUN_KEYS = ("task", "space", "method", "max_trials", "workers", "seed", "name", "results_dir",
            "data_dir", "etr", "trial_timeout", "count")  # fmt: skip


def parse_task_opts(values: tuple[str, ...]) -> dict[str, str]:
    """``--task-opt KEY=VALUE`` (repeated) -> ``{KEY: VALUE}``."""
    options: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BttacklerError(f"--task-opt expects KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    return options


def config_from_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The effective configuration: defaults, the ``--config`` file (or ``./bttackler.toml``),
    then the flags present in ``flags`` (a command's click parameters; absent or None: unset)."""
    config_file = flags.get("config_file")
    config = load_config(Path(config_file) if config_file else None)
    run = config.setdefault("run", {})
    run.update({key: flags[key] for key in RUN_KEYS if flags.get(key) is not None})
    if flags.get("budget") is not None:
        parse_duration(flags["budget"], what="--budget")
        run["budget"] = flags["budget"]
    if flags.get("task_opts"):
        run["task_options"] = parse_task_opts(flags["task_opts"])
    diagnosis = config.setdefault("diagnosis", {})
    if flags.get("no_diagnosis"):
        diagnosis["enabled"] = False
    if flags.get("no_trace"):
        diagnosis["trace"] = False
        diagnosis["enabled"] = False
    return config
