"""The ask/tell interface every search method implements, and small shared helpers."""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import numpy as np

from bttackler.core.errors import SearchExhausted as SearchExhausted  # ask()'s end
from bttackler.core.objective import Mode
from bttackler.core.space import Parameter, SearchSpace

T = TypeVar("T")
ParamsKey = tuple[tuple[str, str, str], ...]

# How often ``fresh`` redraws a configuration that is already pending before giving up.
_MAX_REDRAWS = 32


class Searcher(abc.ABC):
    """Proposes configurations (``ask``) and learns from their results (``tell``).

    Every method minimises ``loss = -value`` for ``mode="max"`` and ``value`` for
    ``mode="min"``. Several ``ask`` calls may precede the matching ``tell`` calls (parallel
    workers), and ``tell`` accepts configurations that were never asked (a resumed run
    re-tells finished trials). ``value`` None or NaN means the trial failed or reported
    nothing; each method documents how it learns from that.
    """

    def __init__(self, space: SearchSpace, *, seed: int, mode: Mode | str) -> None:
        try:
            self.mode = Mode(mode)
        except ValueError:
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}") from None
        self.space = space
        self.seed = int(seed)
        self._rng = np.random.default_rng(self.seed)

    @abc.abstractmethod
    def ask(self) -> dict[str, Any]:
        """Return the next configuration to evaluate (plain Python values).

        Raises:
            SearchExhausted: a finite method (grid) has nothing left to propose.
        """

    @abc.abstractmethod
    def tell(self, params: Mapping[str, Any], value: float | None) -> None:
        """Report the objective ``value`` of ``params``; None or NaN for a failed trial."""

    def to_loss(self, value: float | None) -> float | None:
        """The value to minimise, or None for a failed trial (None, NaN or infinite)."""
        return to_loss(value, self.mode)

    def _next_seed(self) -> int:
        return int(self._rng.integers(2**31 - 1))

    def _fresh(self, candidate: dict[str, Any], pending: Mapping[ParamsKey, Any]) -> dict[str, Any]:
        """``candidate``, or a random draw when ``candidate`` is already pending."""
        return fresh(candidate, pending, lambda: self.space.sample(self._rng))


def to_loss(value: float | None, mode: Mode | str) -> float | None:
    if value is None:
        return None
    x = float(value)
    if not math.isfinite(x):
        return None
    return -x if Mode.of(mode) is Mode.MAX else x


def params_key(params: Mapping[str, Any]) -> ParamsKey:
    """A hashable identity of a configuration; ``True``, ``1`` and ``1.0`` differ."""
    return tuple(sorted((k, type(v).__name__, repr(v)) for k, v in params.items()))


def fresh(
    candidate: dict[str, Any],
    pending: Mapping[ParamsKey, Any],
    draw: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Return ``candidate`` unless it is pending; then redraw a few times (small spaces may
    leave no unpending configuration, in which case the last draw is returned)."""
    for _ in range(_MAX_REDRAWS):
        if params_key(candidate) not in pending:
            break
        candidate = draw()
    return candidate


class FailureImputer(Generic[T]):
    """Turns failed trials into "worst loss seen so far" for models that need a number.

    ``resolve(item, loss)`` returns the ``(item, loss, failed)`` triples that can be told
    to the model now: a finite loss is told at once, together with any failures held back
    because no finite loss had been seen yet; a failure is told at the worst finite loss
    seen so far.
    """

    def __init__(self) -> None:
        self.worst: float | None = None
        self._held: list[T] = []

    def resolve(self, item: T, loss: float | None) -> list[tuple[T, float, bool]]:
        if loss is None:
            if self.worst is None:
                self._held.append(item)
                return []
            return [(item, self.worst, True)]
        self.worst = loss if self.worst is None else max(self.worst, loss)
        held, self._held = self._held, []
        return [(item, loss, False)] + [(h, self.worst, True) for h in held]


def value_from_coordinate(p: Parameter, x: Any) -> Any:
    """A model-based searcher's coordinate (a choice's index, a number) -> the value of ``p``."""
    if p.type == "choice":
        return p.values[int(x)]
    return p.coerce(float(x))


def choice_index(p: Parameter, value: Any) -> int:
    """The index of ``value`` among the choices of ``p`` (type and value both match)."""
    return next(i for i, v in enumerate(p.values) if type(v) is type(value) and v == value)
