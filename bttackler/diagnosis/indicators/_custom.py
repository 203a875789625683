"""A user's own indicator: any callable ``(history) -> Verdict | bool | str | None``."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from bttackler.core.errors import BttacklerError
from bttackler.core.history import TrialHistory
from bttackler.core.modules import import_file, private_module_name
from bttackler.core.verdict import Verdict
from bttackler.diagnosis.indicators._base import STAGES, Indicator, Stage, last_epoch
from bttackler.diagnosis.settings_table import check_fraction

CustomFunction = Callable[[TrialHistory], Any]


def _load_module(target: str, base_dir: Path | None) -> ModuleType:
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise BttacklerError(f"no such file: {path}")
        name = private_module_name("bttackler_custom", path)
        return import_file(path, name, what="custom indicator file")
    try:
        return importlib.import_module(target)
    except Exception as exc:
        raise BttacklerError(f"cannot import {target}: {type(exc).__name__}: {exc}") from exc


def load_custom_function(spec: str, *, base_dir: Path | None = None) -> tuple[CustomFunction, str]:
    """Resolve ``"package.module:function"`` or ``"path/to/file.py:function"``.

    Relative file paths are taken from ``base_dir`` (the configuration file's folder) when
    given, else from the working directory.

    Returns:
        The callable and its stage: the callable's ``stage`` attribute, else the module's
        ``STAGE``, else ``"any"``.

    Raises:
        BttacklerError: Malformed spec, import failure, missing or non-callable attribute,
            or an unknown stage.
    """
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr.isidentifier():
        raise BttacklerError(
            f"expected 'module:function' or 'path/to/file.py:function', got {spec!r}"
        )
    module = _load_module(target, base_dir)
    func = getattr(module, attr, None)
    if func is None:
        raise BttacklerError(f"{target} has no attribute {attr!r}")
    if not callable(func):
        raise BttacklerError(f"{target}:{attr} is not callable")
    stage = getattr(func, "stage", None) or getattr(module, "STAGE", None) or "any"
    if stage not in STAGES:
        raise BttacklerError(f"{target}:{attr} has stage {stage!r}; expected early, late or any")
    return func, str(stage)


class CustomIndicator(Indicator[None]):
    """Wraps a user's callable into the indicator interface.

    The callable gets the :class:`~bttackler.core.history.TrialHistory` and returns a
    :class:`~bttackler.core.verdict.Verdict` (used as it is), ``True`` or a non-empty string (the
    rule's text) for positive, and ``None``, ``False`` or ``""`` for nothing. What NaN means
    is up to the callable. Exceptions it raises propagate to the caller.

    Args:
        short_name: The name verdicts carry (the key in ``[indicators.custom]``).
        function: The callable.
        stage: ``"early"``, ``"late"`` or ``"any"``.
        early_fraction: As for every indicator.
    """

    def __init__(
        self,
        short_name: str,
        function: CustomFunction,
        *,
        stage: str = "any",
        early_fraction: float = 0.5,
    ) -> None:
        super().__init__(None, early_fraction=early_fraction)
        if not short_name:
            raise ValueError("short_name must be non-empty, got ''")
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
        check_fraction("early_fraction", early_fraction, low_open=False)
        self.short_name = short_name
        self.stage: Stage = stage  # type: ignore[assignment]
        self.function = function

    def judge(self, history: TrialHistory) -> Verdict | None:
        result = self.function(history)
        if isinstance(result, Verdict):
            return result
        if result is None or result is False or result == "":
            return None
        if result is True or isinstance(result, str):
            rule = f"custom indicator {self.short_name} fired" if result is True else result
            return Verdict(
                indicator=self.short_name, rule=str(rule), epoch=last_epoch(history), values={}
            )
        raise BttacklerError(
            f"custom indicator {self.short_name} returned {type(result).__name__}; "
            "expected Verdict, bool, str or None"
        )

    def __repr__(self) -> str:
        return f"CustomIndicator({self.short_name!r}, {self.function!r}, stage={self.stage!r})"
