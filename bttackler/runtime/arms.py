"""The arms of the paper's experiment (baseline, +BTTackler, +LCE, +MSR, +BTTackler+MSR) and of
successive halving (ASHA, Hyperband, each alone and with BTTackler), run one after another with
the same seeds, workers and budget (``bttackler compare --task``)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bttackler.core.config import run_settings
from bttackler.core.errors import BttacklerError
from bttackler.core.objective import Mode
from bttackler.core.task import load_task
from bttackler.diagnosis import build_from_config
from bttackler.runtime import experiment
from bttackler.runtime.progress import make_view

# arm -> (indicators act?, ETR rule or None). Every arm traces and records the indicators'
# verdicts (for replay); only where the first item is true do they terminate trials.
ARM_SETTINGS: dict[str, tuple[bool, str | None]] = {
    "baseline": (False, None),
    "bttackler": (True, None),
    "lce": (False, "lce"),
    "msr": (False, "msr"),
    "bttackler+msr": (True, "msr"),
    "asha": (False, "asha"),
    "bttackler+asha": (True, "asha"),
    "hyperband": (False, "hyperband"),
    "bttackler+hyperband": (True, "hyperband"),
}
ARMS: tuple[str, ...] = tuple(ARM_SETTINGS)
AVOID_SUFFIX = "+avoid"  # any arm with --avoid-bad: bttackler+avoid, baseline+avoid, ...
# Accepted for old command lines: the one ETR rule the paper used per task type.
ALIASES: frozenset[str] = frozenset({"etr"})
# What `compare --task` runs unless told: Hyperband only when asked.
DEFAULT_ARMS: tuple[str, ...] = ARMS[:7]


def arm_config(base: Mapping[str, Any], arm: str, mode: Mode | str) -> dict[str, Any]:
    """``base`` (the effective configuration) with the arm's ``run``/``diagnosis`` overrides.

    baseline: diagnosis off (``--no-diagnosis``: trace and record, never kill);
    bttackler: diagnosis on; lce / msr / asha / hyperband: diagnosis off and ``run.etr`` = that
    rule (all work for either mode: LCE judges a minimised objective on a rising transform of
    it, see :class:`~bttackler.diagnosis.etr.LearningCurveExtrapolation`); bttackler+RULE: the
    indicators and the rule together (the diagnoser runs both; the first verdict terminates).
    Any arm with ``+avoid`` (``bttackler+avoid``): the same with ``--avoid-bad`` (and only
    those use ``[run] avoid_learn_from``, which would otherwise turn it on for every arm).
    ``etr`` (alias, the paper's choice): ``lce`` for a maximised objective, ``msr`` for a
    minimised one.
    """
    if arm.endswith(AVOID_SUFFIX) and arm != AVOID_SUFFIX:
        config = arm_config(base, arm.removesuffix(AVOID_SUFFIX), mode)
        config["run"]["avoid_bad"] = True
        learn_from = base.get("run", {}).get("avoid_learn_from")
        if learn_from:
            config["run"]["avoid_learn_from"] = learn_from
        return config
    etr: str | None
    if arm in ALIASES:
        indicators, etr = False, ("lce" if Mode.of(mode) is Mode.MAX else "msr")
    elif arm in ARM_SETTINGS:
        indicators, etr = ARM_SETTINGS[arm]
    else:
        raise BttacklerError(f"unknown arm {arm!r}; choose from {', '.join(ARMS)}")
    config = copy.deepcopy(dict(base))
    run = config.setdefault("run", {})
    diagnosis = config.setdefault("diagnosis", {})
    run.pop("etr", None)
    run["avoid_bad"] = False
    run.pop("avoid_learn_from", None)  # only +avoid arms learn (see above)
    diagnosis["enabled"] = indicators
    if etr is not None:
        run["etr"] = etr
    return config


def run_arms(
    base: Mapping[str, Any],
    *,
    arms: Sequence[str],
    repeats: int,
    name: str,
    plain: bool = True,
) -> dict[str, list[Path]]:
    """Run every arm ``repeats`` times, one run after another; repeat ``r`` of every arm uses
    seed ``run.seed + r``. Runs are named ``NAME-ARM`` (``NAME-ARM-rR`` with repeats).

    Returns:
        The run directories per arm, in repeat order.
    """
    settings = run_settings(base)
    task, _ = load_task(settings.task)
    configs = []
    for r in range(repeats):
        for arm in arms:
            config = arm_config(base, arm, task.mode)
            config["run"]["seed"] = settings.seed + r
            config["run"]["name"] = f"{name}-{arm}" + (f"-r{r + 1}" if repeats > 1 else "")
            configs.append((arm, config))
    for _arm, config in configs:  # validate every arm before the first one runs
        build_from_config(config)
        if (settings.results_dir / config["run"]["name"]).exists():
            raise BttacklerError(
                f"results directory {settings.results_dir / config['run']['name']} already "
                "exists; choose another --name"
            )
    dirs: dict[str, list[Path]] = {arm: [] for arm in arms}
    for arm, config in configs:
        prepared = experiment.prepare_new(config)
        print(f"compare: arm {arm} · run {prepared.run_dir} · seed {prepared.settings.seed}",
              flush=True)  # fmt: skip
        view = make_view(f"{arm} · {prepared.run_dir.name}", force_plain=plain)
        try:
            result = experiment.execute(prepared, view)
        finally:
            view.close()
        dirs[arm].append(prepared.run_dir)
        if result.outcome == "interrupted":
            raise KeyboardInterrupt
    return dirs
