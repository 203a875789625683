"""NNI-format search spaces: load, validate, sample and check parameter values.

A search space file (YAML or NNI's JSON) maps each parameter name to
``{"_type": ..., "_value": [...]}``. The types and their sampling follow NNI v2:

=============  ====================  =====================================================
``_type``      ``_value``            value
=============  ====================  =====================================================
choice         ``[v1, v2, ...]``     one of the listed values, kept as given (bool stays bool)
randint        ``[lower, upper]``    int in ``[lower, upper)`` (upper exclusive)
uniform        ``[low, high]``       float in ``[low, high]``
quniform       ``[low, high, q]``    ``clip(round(uniform(low, high) / q) * q, low, high)``
loguniform     ``[low, high]``       ``exp(uniform(log low, log high))``, ``0 < low``
qloguniform    ``[low, high, q]``    ``clip(round(loguniform(low, high) / q) * q, low, high)``
normal         ``[mu, sigma]``       float from ``N(mu, sigma)``
qnormal        ``[mu, sigma, q]``    ``round(normal(mu, sigma) / q) * q``
lognormal      ``[mu, sigma]``       ``exp(normal(mu, sigma))``
qlognormal     ``[mu, sigma, q]``    ``round(lognormal(mu, sigma) / q) * q``
=============  ====================  =====================================================

A ``uniform`` or ``loguniform`` parameter may add ``grid_points: N`` (N >= 2): the number of
evenly spaced values, bounds included (on the log scale for loguniform), that ``--method grid``
takes; the other methods ignore it.

Values are plain Python types, ready for JSON and user code: ``int`` for randint, ``float``
for the continuous types, and for the q-types an ``int`` when ``q`` (and, for quniform and
qloguniform, both bounds) are integers in the file, else a ``float``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bttackler.core.errors import BttacklerError

# Number of ``_value`` entries each numeric type takes.
_ARITY: dict[str, int] = {
    "randint": 2,
    "uniform": 2,
    "quniform": 3,
    "loguniform": 2,
    "qloguniform": 3,
    "normal": 2,
    "qnormal": 3,
    "lognormal": 2,
    "qlognormal": 3,
}
TYPES: tuple[str, ...] = ("choice", *_ARITY)
_BOUNDED = ("uniform", "quniform", "loguniform", "qloguniform")
_GAUSSIAN = ("normal", "qnormal", "lognormal", "qlognormal")


@dataclass(frozen=True)
class Parameter:
    """One hyperparameter. Which fields are set depends on ``type``.

    ``values`` for choice; ``low``/``high`` for randint (high exclusive), uniform,
    quniform, loguniform, qloguniform; ``mu``/``sigma`` for the normal types; ``q`` for the
    q-types. ``integral`` is True when a q-type yields ints.
    """

    name: str
    type: str
    values: tuple[Any, ...] = ()
    low: float = math.nan
    high: float = math.nan
    q: float = math.nan
    mu: float = math.nan
    sigma: float = math.nan
    integral: bool = False
    grid_points: int = 0  # uniform/loguniform only: how many points grid search takes

    @property
    def kind(self) -> str:
        """``"categorical"`` (choice), ``"discrete"`` (randint, q-types) or ``"continuous"``."""
        if self.type == "choice":
            return "categorical"
        if self.type == "randint" or self.type.startswith("q"):
            return "discrete"
        return "continuous"

    @property
    def is_log(self) -> bool:
        return "log" in self.type

    def coerce(self, x: float) -> int | float:
        """Map a raw number onto this numeric parameter's domain (NNI rounding and clipping).

        Searchers that model a parameter as a real number call this on their proposal.
        """
        if self.type == "choice":
            raise TypeError(f"parameter {self.name!r}: choice values are not numbers")
        if self.type == "randint":
            return int(min(max(round(x), self.low), self.high - 1))
        if self.type in ("uniform", "loguniform"):
            return float(min(max(x, self.low), self.high))
        if self.type in ("normal", "lognormal"):
            return float(x)
        y = round(x / self.q) * self.q
        if self.type in ("quniform", "qloguniform"):
            y = min(max(y, self.low), self.high)
        if self.integral:
            return int(round(y))
        return float(f"{y:.12g}")  # drop float noise such as 0.30000000000000004

    def sample(self, rng: np.random.Generator) -> Any:
        """Draw one value with NNI semantics."""
        t = self.type
        if t == "choice":
            return self.values[int(rng.integers(len(self.values)))]
        if t == "randint":
            return int(rng.integers(int(self.low), int(self.high)))
        if t in ("uniform", "quniform"):
            return self.coerce(float(rng.uniform(self.low, self.high)))
        if t in ("loguniform", "qloguniform"):
            return self.coerce(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        x = float(rng.normal(self.mu, self.sigma))
        return self.coerce(math.exp(x) if self.is_log else x)

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not a valid value of this parameter, or None when it is."""
        if self.type == "choice":
            if any(_same(value, v) for v in self.values):
                return None
            return f"{value!r} is not one of {list(self.values)}"
        if self.type == "randint" or (self.kind == "discrete" and self.integral):
            if not _is_int(value):
                return f"expected an int, got {value!r}"
        elif not _is_number(value):
            return f"expected a number, got {value!r}"
        x = float(value)
        if not math.isfinite(x):
            return f"expected a finite number, got {value!r}"
        if self.type == "randint" and not self.low <= x < self.high:
            return f"{value!r} is outside [{_num(self.low)}, {_num(self.high)})"
        if self.type in _BOUNDED and not self.low <= x <= self.high:
            return f"{value!r} is outside [{_num(self.low)}, {_num(self.high)}]"
        if self.type in ("lognormal",) and x <= 0:
            return f"{value!r} is not positive"
        if self.type == "qlognormal" and x < 0:
            return f"{value!r} is negative"
        if self.kind == "discrete" and self.type != "randint":
            on_bound = self.type in _BOUNDED and x in (self.low, self.high)
            if not on_bound and not math.isclose(x, round(x / self.q) * self.q, abs_tol=1e-9):
                return f"{value!r} is not a multiple of q={_num(self.q)}"
        return None


@dataclass(frozen=True)
class SearchSpace:
    """An ordered, validated set of parameters; ``source`` names where it came from."""

    parameters: tuple[Parameter, ...]
    source: str = "<mapping>"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self.parameters)

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """One configuration drawn with NNI semantics, parameters in file order."""
        return {p.name: p.sample(rng) for p in self.parameters}

    def problems(self, params: Mapping[str, Any]) -> list[str]:
        """Everything wrong with ``params`` (missing/unknown names, types, bounds)."""
        found = [f"missing parameter {n!r}" for n in self.names if n not in params]
        found += [f"unknown parameter {n!r}" for n in params if n not in self.names]
        for p in self.parameters:
            if p.name in params:
                why = p.problem(params[p.name])
                if why is not None:
                    found.append(f"parameter {p.name!r}: {why}")
        return found

    def contains(self, params: Mapping[str, Any]) -> bool:
        return not self.problems(params)

    def validate_params(self, params: Mapping[str, Any]) -> None:
        """Raise :class:`BttacklerError` naming every problem when ``params`` is not valid."""
        found = self.problems(params)
        if found:
            raise BttacklerError(f"search space {self.source}: " + "; ".join(found))

    def counts(self) -> dict[str, int]:
        """How many parameters of each kind (all three kinds always present)."""
        out = {"continuous": 0, "discrete": 0, "categorical": 0}
        for p in self.parameters:
            out[p.kind] += 1
        return out


def load_space(path: str | Path) -> SearchSpace:
    """Read a search space from a ``.yaml``/``.yml`` or NNI ``.json`` file."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise BttacklerError(f"search space {source}: file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BttacklerError(f"search space {source}: cannot read file ({exc})") from exc
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        fmt = "JSON" if path.suffix.lower() == ".json" else "YAML"
        detail = " ".join(str(exc).split()).replace('"<unicode string>"', path.name)
        raise BttacklerError(f"search space {source}: not valid {fmt} ({detail})") from exc
    if data is None:
        raise BttacklerError(f"search space {source}: the file is empty")
    return space_from_mapping(data, source=source)


def space_from_mapping(mapping: Any, source: str = "<mapping>") -> SearchSpace:
    """Validate an NNI search space given as ``{name: {"_type": ..., "_value": [...]}}``."""
    if not isinstance(mapping, Mapping):
        raise BttacklerError(
            f"search space {source}: expected a mapping of parameter names at the top level, "
            f"got {type(mapping).__name__}"
        )
    if not mapping:
        raise BttacklerError(f"search space {source}: the space is empty")
    return SearchSpace(
        tuple(_parse_parameter(str(n), spec, source) for n, spec in mapping.items()), source
    )


def _parse_parameter(name: str, spec: Any, source: str) -> Parameter:
    def fail(what: str) -> BttacklerError:
        return BttacklerError(f"search space {source}: parameter {name!r}: {what}")

    if not isinstance(spec, Mapping):
        raise fail(f'expected a mapping with "_type" and "_value", got {spec!r}')
    kind = spec.get("_type")
    if kind is None:
        keys = ", ".join(map(str, spec)) or "none"
        raise fail(f'has no "_type" (its keys: {keys}); choose one of {", ".join(TYPES)}')
    if kind not in TYPES:
        raise fail(f"unknown _type {kind!r}; choose one of {', '.join(TYPES)}")
    if "_value" not in spec:
        raise fail(f'{kind} is missing "_value"')
    raw = spec["_value"]
    points = _grid_points(spec, kind, fail)
    if not isinstance(raw, list | tuple):
        raise fail(f'"_value" must be a list, got {raw!r}')
    if kind == "choice":
        if not raw:
            raise fail("choice needs at least one value, got []")
        if any(isinstance(v, Mapping) for v in raw):
            raise fail("nested choices are not supported")
        if any(isinstance(v, list | tuple) for v in raw):
            raise fail("choice values must be numbers, strings or booleans, not lists")
        return Parameter(name, kind, values=tuple(raw))

    if len(raw) != _ARITY[kind]:
        want = {2: "[low, high]", 3: "[low, high, q]"}[_ARITY[kind]]
        if kind in _GAUSSIAN:
            want = want.replace("low, high", "mu, sigma")
        elif kind == "randint":
            want = "[lower, upper]"
        raise fail(f"{kind} needs {_ARITY[kind]} values {want}, got {list(raw)}")
    if not all(_is_number(v) and math.isfinite(v) for v in raw):
        raise fail(f"{kind} needs finite numbers, got {list(raw)}")
    nums = [float(v) for v in raw]
    q = nums[2] if len(nums) == 3 else math.nan
    if len(nums) == 3 and q <= 0:
        raise fail(f"{kind} needs q > 0, got {list(raw)}")

    if kind == "randint":
        if not all(_is_int(v) or float(v).is_integer() for v in raw):
            raise fail(f"randint needs integer bounds, got {list(raw)}")
        if nums[0] >= nums[1]:
            raise fail(f"randint needs lower < upper (upper is exclusive), got {list(raw)}")
        return Parameter(name, kind, low=nums[0], high=nums[1])
    if kind in _GAUSSIAN:
        if nums[1] <= 0:
            raise fail(f"{kind} needs sigma > 0, got {list(raw)}")
        return Parameter(
            name, kind, mu=nums[0], sigma=nums[1], q=q, integral=len(raw) == 3 and _is_int(raw[2])
        )
    if kind.startswith(("log", "qlog")) and not 0 < nums[0] < nums[1]:
        raise fail(f"{kind} needs 0 < low < high, got {list(raw)}")
    if nums[0] >= nums[1]:
        raise fail(f"{kind} needs low < high, got {list(raw)}")
    integral = len(raw) == 3 and all(_is_int(v) for v in raw)
    return Parameter(
        name, kind, low=nums[0], high=nums[1], q=q, integral=integral, grid_points=points
    )


def _grid_points(spec: Mapping[str, Any], kind: str, fail: Callable[[str], BttacklerError]) -> int:
    """The optional ``grid_points`` of a uniform or loguniform parameter (0 when absent): how
    many evenly spaced values (on the log scale for loguniform), bounds included, grid search
    takes."""
    if "grid_points" not in spec:
        return 0
    points = spec["grid_points"]
    if kind not in ("uniform", "loguniform"):
        raise fail(f"grid_points is for uniform and loguniform (a {kind} has its own steps)")
    if not _is_int(points) or points < 2:
        raise fail(f"grid_points needs an integer >= 2, got {points!r}")
    return int(points)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same kind: ``True`` is not ``1`` and ``1`` is not ``1.0``."""
    return type(a) is type(b) and a == b


def _num(x: float) -> str:
    return str(int(x)) if x.is_integer() else repr(x)
