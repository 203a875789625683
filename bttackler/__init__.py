"""bttackler: hyperparameter search that watches every training trial from the inside and
stops the bad ones early (KDD'24 *BTTackler*).

The command line is ``bttackler``. The Python API, for notebooks and integrations:

- :class:`Watcher` hooks a ``torch.nn.Module`` with the probe a ``bttackler run`` trial
  uses; ``watcher.end_epoch(epoch, train_loss=..., val_acc=...)`` returns the
  :class:`TrialHistory` so far;
- :class:`Judge` judges a history with the configured indicators and guard
  (``judge.judge(history) -> Verdict | None``);
- ``bttackler.integrations.optuna`` and ``bttackler.integrations.lightning``: a pruner and a
  callback built on them.

Names are imported on first use, so ``import bttackler`` stays light (no torch).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "EpochRecord",
    "Judge",
    "LayerStat",
    "NonFiniteEvent",
    "TrialHistory",
    "Verdict",
    "Watcher",
    "load_config",
    "reason",
]

_HOME = {
    "EpochRecord": "bttackler.core.history",
    "LayerStat": "bttackler.core.history",
    "NonFiniteEvent": "bttackler.core.history",
    "TrialHistory": "bttackler.core.history",
    "Verdict": "bttackler.core.verdict",
    "load_config": "bttackler.core.config",
    "Judge": "bttackler.integrations.api",
    "Watcher": "bttackler.integrations.api",
    "reason": "bttackler.integrations.api",
}

if TYPE_CHECKING:
    from bttackler.core.config import load_config
    from bttackler.core.history import EpochRecord, LayerStat, NonFiniteEvent, TrialHistory
    from bttackler.core.verdict import Verdict
    from bttackler.integrations.api import Judge, Watcher, reason


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'bttackler' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
