"""Finding and loading tasks: a built-in name (``tasks/<name>.py``) or a path to a user's file.

A task module defines ``run(params, trial)`` and the constants ``OBJECTIVE``, ``MODE``
(``"max"``/``"min"``), ``MAX_EPOCHS`` and ``DEFAULT_SPACE`` (a path, relative to the task file
or to the folder holding the ``tasks`` package). ``DESCRIPTION`` and ``DATA_SOURCE`` are
optional one-liners.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from bttackler.errors import BttacklerError

# The folder holding the bttackler and tasks packages: the project in a checkout (or an
# editable install), site-packages in a wheel install.
PACKAGES_ROOT = Path(__file__).resolve().parent.parent
BUILTIN_TASKS_DIR = PACKAGES_ROOT / "tasks"
_NOT_TASKS = {"__init__", "common", "models"}  # shared helpers, not tasks


@dataclass(frozen=True)
class TaskSpec:
    """What the runner needs to know about a task, read from its module constants."""

    name: str
    path: Path
    objective: str
    mode: str
    max_epochs: int
    default_space: Path | None
    description: str = ""
    data_source: str = ""


def resolve_task_path(ref: str) -> Path:
    """A built-in task name or a path to a ``.py`` file -> the file's absolute path."""
    if ref.endswith(".py") or "/" in ref or "\\" in ref:
        path = Path(ref).expanduser().resolve()
        if not path.is_file():
            raise BttacklerError(f"task file {ref} does not exist")
        return path
    path = BUILTIN_TASKS_DIR / f"{ref}.py"
    if ref in _NOT_TASKS or not path.is_file():
        names = ", ".join(builtin_task_names()) or "none"
        raise BttacklerError(f"unknown task '{ref}'; built-in tasks: {names} (or give a .py path)")
    return path


def builtin_task_names() -> list[str]:
    if not BUILTIN_TASKS_DIR.is_dir():
        return []
    return sorted(
        p.stem
        for p in BUILTIN_TASKS_DIR.glob("*.py")
        if p.stem not in _NOT_TASKS and not p.stem.startswith("_")
    )


def import_task_module(path: Path) -> ModuleType:
    """Import a task file. Built-in tasks import as ``tasks.<name>`` so they can share helpers;
    a user's file gets a private module name and its folder on ``sys.path``."""
    path = path.resolve()
    if path.parent == BUILTIN_TASKS_DIR:
        module_name = f"tasks.{path.stem}"
        if str(PACKAGES_ROOT) not in sys.path:
            sys.path.insert(0, str(PACKAGES_ROOT))
    else:
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
        module_name = f"bttackler_user_task_{path.stem}_{digest}"
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise BttacklerError(f"task file {path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BttacklerError:
        raise
    except Exception as exc:  # the user's code: report in one line, not a traceback
        del sys.modules[module_name]
        raise BttacklerError(
            f"task file {path} failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def spec_from_module(module: ModuleType, path: Path) -> TaskSpec:
    """Validate a task module's contract and read its constants."""
    where = f"task {path}"
    if not callable(getattr(module, "run", None)):
        raise BttacklerError(f"{where} has no run(params, trial) function")
    objective = getattr(module, "OBJECTIVE", None)
    if not isinstance(objective, str) or not objective:
        raise BttacklerError(f'{where} must define OBJECTIVE, a metric name such as "val_acc"')
    mode = getattr(module, "MODE", None)
    if mode not in ("max", "min"):
        raise BttacklerError(f'{where} must define MODE = "max" or "min", got {mode!r}')
    max_epochs = getattr(module, "MAX_EPOCHS", None)
    if not isinstance(max_epochs, int) or isinstance(max_epochs, bool) or max_epochs < 1:
        raise BttacklerError(f"{where} must define MAX_EPOCHS, a positive int, got {max_epochs!r}")
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
    )


def _resolve_space_path(space: object, task_path: Path) -> Path:
    candidate = Path(str(space)).expanduser()
    if candidate.is_absolute():
        return candidate
    for base in (task_path.parent, PACKAGES_ROOT):
        if (base / candidate).exists():
            return (base / candidate).resolve()
    return (task_path.parent / candidate).resolve()


def load_task(ref: str) -> tuple[TaskSpec, ModuleType]:
    path = resolve_task_path(ref)
    module = import_task_module(path)
    return spec_from_module(module, path), module
