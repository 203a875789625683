"""Finding and loading tasks: a built-in name (``tasks/<name>.py``) or a path to a user's file.

A task module defines ``run(params, trial)`` and the constants ``OBJECTIVE``, ``MODE``
(``"max"``/``"min"``), ``MAX_EPOCHS`` and ``DEFAULT_SPACE`` (a path, relative to the task file,
or for the built-in tasks ``search_spaces/<name>.yaml`` among the shipped files).
``DESCRIPTION`` and ``DATA_SOURCE`` are optional one-liners.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from bttackler.core.errors import BttacklerError
from bttackler.core.modules import import_file, private_module_name
from bttackler.core.objective import Mode
from bttackler.core.resources import TASKS_PACKAGE, builtin_tasks_dir, shipped

_NOT_TASKS = {"__init__", "models"}  # shared helpers, not tasks


@dataclass(frozen=True)
class TaskSpec:
    """What the runner needs to know about a task, read from its module constants."""

    name: str
    path: Path
    objective: str
    mode: Mode  # "max" or "min" (a string is read as its Mode)
    max_epochs: int
    default_space: Path | None
    description: str = ""
    data_source: str = ""
    chance_loss: float = math.nan  # CHANCE_LOSS, optional: the loss of a model that learned nothing

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", Mode.of(self.mode))


def resolve_task_path(ref: str) -> Path:
    """A built-in task name or a path to a ``.py`` file -> the file's absolute path."""
    if ref.endswith(".py") or "/" in ref or "\\" in ref:
        path = Path(ref).expanduser().resolve()
        if not path.is_file():
            raise BttacklerError(f"task file {ref} does not exist")
        return path
    folder = builtin_tasks_dir()
    path = folder / f"{ref}.py" if folder else Path(ref)
    if ref in _NOT_TASKS or ref.startswith("_") or not path.is_file():
        names = ", ".join(builtin_task_names()) or "none"
        raise BttacklerError(f"unknown task '{ref}'; built-in tasks: {names} (or give a .py path)")
    return path


def builtin_task_names() -> list[str]:
    folder = builtin_tasks_dir()
    if folder is None:
        return []
    return sorted(
        p.stem
        for p in folder.glob("*.py")
        if p.stem not in _NOT_TASKS and not p.stem.startswith("_")
    )


def import_task_module(path: Path) -> ModuleType:
    """Import a task file. Built-in tasks import as ``bttackler.tasks.<name>`` so they can share
    helpers; a user's file gets a private module name and its folder on ``sys.path``."""
    path = path.resolve()
    if path.parent == builtin_tasks_dir():
        module_name = f"{TASKS_PACKAGE}.{path.stem}"
    else:
        module_name = private_module_name("bttackler_user_task", path)
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
    return import_file(path, module_name, what="task file")


def spec_from_module(module: ModuleType, path: Path) -> TaskSpec:
    """Validate a task module's contract and read its constants."""
    where = f"task {path}"
    if not callable(getattr(module, "run", None)):
        raise BttacklerError(f"{where} has no run(params, trial) function")
    objective = getattr(module, "OBJECTIVE", None)
    if not isinstance(objective, str) or not objective:
        raise BttacklerError(f'{where} must define OBJECTIVE, a metric name such as "val_acc"')
    raw_mode = getattr(module, "MODE", None)
    try:
        mode = Mode.of(raw_mode)
    except BttacklerError:
        raise BttacklerError(
            f'{where} must define MODE = "max" or "min", got {raw_mode!r}'
        ) from None
    max_epochs = getattr(module, "MAX_EPOCHS", None)
    if not isinstance(max_epochs, int) or isinstance(max_epochs, bool) or max_epochs < 1:
        raise BttacklerError(f"{where} must define MAX_EPOCHS, a positive int, got {max_epochs!r}")
    chance = getattr(module, "CHANCE_LOSS", math.nan)
    if isinstance(chance, bool) or not isinstance(chance, int | float) or not chance > 0:
        if not (isinstance(chance, float) and math.isnan(chance)):
            raise BttacklerError(f"{where} CHANCE_LOSS must be a positive number, got {chance!r}")
    space = getattr(module, "DEFAULT_SPACE", None)
    default_space = _resolve_space_path(space, path) if space else None
    return TaskSpec(
        name=path.stem,
        path=path,
        objective=objective,
        mode=mode,
        max_epochs=max_epochs,
        default_space=default_space,
        description=str(getattr(module, "DESCRIPTION", "") or ""),
        data_source=str(getattr(module, "DATA_SOURCE", "") or ""),
        chance_loss=float(chance),
    )


def _resolve_space_path(space: object, task_path: Path) -> Path:
    candidate = Path(str(space)).expanduser()
    if candidate.is_absolute():
        return candidate
    for found in (task_path.parent / candidate, shipped(candidate)):
        if found.exists():
            return found.resolve()
    return (task_path.parent / candidate).resolve()


def load_task(ref: str) -> tuple[TaskSpec, ModuleType]:
    path = resolve_task_path(ref)
    module = import_task_module(path)
    return spec_from_module(module, path), module


def call_task_code(task: str, what: str, function: Any, *args: Any) -> Any:
    """Call a task's own ``function``; whatever it raises becomes one line naming the task and
    ``what`` failed (a BttacklerError it raises passes unchanged)."""
    try:
        return function(*args)
    except BttacklerError:
        raise
    except Exception as exc:  # the task's own code: one line, not a traceback
        raise BttacklerError(f"task {task}: {what} failed: {type(exc).__name__}: {exc}") from exc


def with_planned_epochs(spec: TaskSpec, module: ModuleType, options: Mapping[str, str]) -> TaskSpec:
    """``spec`` with ``max_epochs`` set to the epochs a trial trains with these task options.

    A task whose options change its epoch count (``--task-opt epochs=5``) defines
    ``epochs(options) -> int``; without it every trial trains ``MAX_EPOCHS``. The indicators'
    stages and windows and the ETR rules' horizons follow this count, so a short run is
    judged as a short run.

    Raises:
        BttacklerError: ``epochs`` fails or returns anything but an int in 1..MAX_EPOCHS.
    """
    planned = getattr(module, "epochs", None)
    if not callable(planned):
        return spec
    count = call_task_code(spec.name, "epochs()", planned, dict(options))
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= spec.max_epochs:
        raise BttacklerError(
            f"task {spec.name}: epochs() must return an int in 1..{spec.max_epochs}, got {count!r}"
        )
    return replace(spec, max_epochs=count)
