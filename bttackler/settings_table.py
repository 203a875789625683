"""Building a frozen settings dataclass from a TOML table, with one-line errors naming the key.

Shared by the indicators (``[indicators.ERG]``) and the ETR rules (``[etr.lce]``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from bttackler.errors import BttacklerError


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
