"""Strict JSON for every command's ``--json``: NaN and infinities become null."""

from __future__ import annotations

import json
import math
from typing import Any


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float (at any depth of dicts, lists, tuples) as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    return value


def dumps(doc: Any) -> str:
    """Indented strict JSON (anything not JSON-native is written as its ``str``)."""
    return json.dumps(finite_or_none(doc), indent=2, default=str, allow_nan=False)
