"""Command-line flags to configuration: the one mapping ``run`` and ``compare --task`` share,
and the ``--count`` flag of the commands that analyse runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from bttackler.core.config import load_config, parse_duration
from bttackler.core.errors import BttacklerError
from bttackler.core.objective import COUNT_RULES, CountRule

# Flags that set the ``[run]`` key of the same name when given.
RUN_KEYS = ("task", "space", "method", "max_trials", "workers", "seed", "name", "results_dir",
            "data_dir", "etr", "trial_timeout", "count", "fail_fast", "backend", "ray_address",
            "cpus_per_trial", "grid_shuffle", "avoid_bad", "avoid_learn_from")  # fmt: skip


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
    run.update({key: flags[key] for key in RUN_KEYS if flags.get(key) not in (None, ())})
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


def count_option(help_text: str) -> Any:
    """The ``--count last|best`` flag (``None`` when not given), with the command's help."""
    return click.option("--count", type=click.Choice(COUNT_RULES), help=help_text)


ANALYSIS_COUNT_HELP = (
    "The value every trial of every arm counts with: its last reported (the paper's rule, "
    "whatever stopped it) or its best epoch's. Overrides the runs' own [run] count.  "
    "[default: last]"
)


def analysis_count(flag: str | None) -> CountRule:
    """The rule ``report``, ``replay`` and ``compare RUNS`` count by: the flag, else ``last``."""
    return CountRule(flag or CountRule.LAST.value)
