"""Importing a user's Python file (a task, a custom indicator) under a private module name."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from bttackler.core.errors import BttacklerError


def private_module_name(prefix: str, path: Path) -> str:
    """A module name unique to ``path`` (the same file always gets the same name)."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    return f"{prefix}_{path.stem}_{digest}"


def import_file(path: Path, module_name: str, *, what: str) -> ModuleType:
    """Import ``path`` as ``module_name`` once (later calls return the same module).

    Raises:
        BttacklerError: One line naming ``what`` and the file when it cannot be imported or
            its code raises while importing (a BttacklerError it raises passes unchanged).
    """
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise BttacklerError(f"{what} {path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses in the file look their module up here
    try:
        spec.loader.exec_module(module)
    except BttacklerError:
        del sys.modules[module_name]
        raise
    except Exception as exc:  # the user's code: report in one line, not a traceback
        del sys.modules[module_name]
        raise BttacklerError(
            f"{what} {path} failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    return module
