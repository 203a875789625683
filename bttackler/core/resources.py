"""Where the files shipped with bttackler are: the built-in tasks, their search spaces and the
documented defaults.

In a checkout (and an editable install) they sit at the repository's top level (``tasks/``,
``search_spaces/``, ``bttackler.toml``); a wheel carries them inside the ``bttackler`` package
(``bttackler/tasks``, ``bttackler/search_spaces``, ``bttackler/bttackler.toml``; see
``setup.py``). The built-in tasks import as ``bttackler.tasks.<name>`` either way.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
CHECKOUT_DIR = PACKAGE_DIR.parent
TASKS_PACKAGE = "bttackler.tasks"


def shipped(relative: str | Path) -> Path:
    """A shipped file: inside the package (wheel), else at the checkout's top level."""
    inside = PACKAGE_DIR / relative
    return inside if inside.exists() else CHECKOUT_DIR / relative


def builtin_tasks_dir() -> Path | None:
    """The folder of the ``bttackler.tasks`` package, or None when it is not installed."""
    spec = importlib.util.find_spec(TASKS_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]).resolve() if locations else None


def display_path(path: Path) -> str:
    """``path`` relative to the package (wheel) or the checkout, for listings."""
    for base in (PACKAGE_DIR, CHECKOUT_DIR):
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    return str(path)
