"""Reading hyperparameters whatever the searcher handed back: TPE, GP and SMAC return
booleans, integers and choices in their own types (``31.0``, numpy ints, ``"true"``)."""

from __future__ import annotations

from typing import Any


def as_bool(value: Any) -> bool:
    """Read a boolean hyperparameter whatever the searcher handed back (bool, 0/1, "true")."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "on", "yes", "1"):
            return True
        if low in ("false", "off", "no", "0"):
            return False
        raise ValueError(f"not a boolean: {value!r}")
    return bool(value)


def as_int(value: Any) -> int:
    """Read a discrete hyperparameter (some searchers return 31.0 or numpy ints)."""
    return int(round(float(value)))
