"""Building a frozen settings dataclass from a TOML table, with one-line errors naming the key,
and the range checks of the settings' values.

Shared by the indicators (``[indicators.ERG]``) and the ETR rules (``[etr.lce]``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from bttackler.core.errors import BttacklerError


def coerce(where: str, value: Any, default: Any) -> Any:
    """Check a TOML value against the type of the setting's default (ints pass for floats)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise BttacklerError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise BttacklerError(f"{where} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BttacklerError(f"{where} must be a number, got {value!r}")
        return float(value)
    return value


def settings_from_table(settings_type: type[Any], table: Any, prefix: str) -> Any:
    """``settings_type(**table)`` after checking every key and value; ``prefix`` names the
    table in messages (``"indicators.ERG"``). The dataclass's own ``ValueError`` (which starts
    with the field name) becomes a :class:`BttacklerError`."""
    if not isinstance(table, Mapping):
        raise BttacklerError(f"{prefix} must be a table, got {table!r}")
    fields = [f.name for f in dataclasses.fields(settings_type)]
    defaults = settings_type()
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{prefix}.{key}"
        if key not in fields:
            raise BttacklerError(f"unknown key {where} (known: {', '.join(fields)})")
        kwargs[key] = coerce(where, value, getattr(defaults, key))
    try:
        return settings_type(**kwargs)
    except ValueError as exc:
        raise BttacklerError(f"{prefix}.{exc}") from exc


def settings_or_default(settings: Any, settings_type: type[Any], owner: str) -> Any:
    """``settings``, or ``settings_type()`` when None; a :class:`TypeError` naming ``owner``
    when it is some other type (a programming error, not the user's input)."""
    if settings is None:
        return settings_type()
    if not isinstance(settings, settings_type):
        raise TypeError(f"{owner} takes {settings_type.__name__}, got {type(settings).__name__}")
    return settings


def require(condition: bool, name: str, value: object, expected: str) -> None:
    """Raise ``ValueError`` naming the setting and its value when ``condition`` is false."""
    if not condition:
        raise ValueError(f"{name} must be {expected}, got {value!r}")


def _number(value: object) -> float | None:
    """``value`` as a float when it is a real number (bools are not), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def check_fraction(name: str, value: object, *, low_open: bool = True) -> None:
    x = _number(value)
    if low_open:
        require(x is not None and 0 < x <= 1, name, value, "a number in (0, 1]")
    else:
        require(x is not None and 0 <= x <= 1, name, value, "a number in [0, 1]")


def check_positive(name: str, value: object) -> None:
    x = _number(value)
    require(x is not None and math.isfinite(x) and x > 0, name, value, "a finite number > 0")


def check_non_negative(name: str, value: object) -> None:
    x = _number(value)
    require(x is not None and math.isfinite(x) and x >= 0, name, value, "a finite number >= 0")


def check_in_unit_interval_open_top(name: str, value: object) -> None:
    x = _number(value)
    require(x is not None and 0 <= x < 1, name, value, "a number in [0, 1)")


def check_int_at_least(name: str, value: object, minimum: int) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    require(ok, name, value, f"an integer >= {minimum}")
