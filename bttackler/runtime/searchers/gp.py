"""Gaussian-process Bayesian optimisation (scikit-optimize ``Optimizer``, base estimator "GP").

Dimensions: choice -> ``Categorical`` over value indices; randint -> ``Integer``;
uniform/loguniform (and their q-types) -> ``Real`` (log-uniform prior for the log types),
rounded to the q grid after asking. The normal types have no bounds, so they are searched
uniformly over ``[mu - 3 sigma, mu + 3 sigma]`` (lognormal: log-uniformly over
``[exp(mu - 3 sigma), exp(mu + 3 sigma)]``); told values outside that range are clipped
to it before the model sees them.

Pending asks use the constant liar: every pending point is told to the model at the best
loss seen so far ("CL-min"), so parallel asks differ.
Failed trials (None/NaN) are told at the worst loss seen so far (held back until a
first real loss arrives).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from skopt import Optimizer
from skopt.space import Categorical, Dimension, Integer, Real
from threadpoolctl import threadpool_limits

from bttackler.core.space import Parameter, SearchSpace
from bttackler.runtime.searchers.base import (
    FailureImputer,
    ParamsKey,
    Searcher,
    choice_index,
    params_key,
    value_from_coordinate,
)

N_INITIAL = 10  # random points before the GP is fitted
N_CANDIDATES = 2000  # random points the acquisition function is maximised over
SIGMAS = 3.0  # half-width of the range searched for the normal types, in sigmas


def skopt_dimension(p: Parameter) -> Dimension:
    """The skopt dimension for one parameter (see the module docstring)."""
    t = p.type
    if t == "choice":
        return Categorical(list(range(len(p.values))), name=p.name)
    if t == "randint":
        return Integer(int(p.low), int(p.high) - 1, name=p.name)
    if t in ("normal", "qnormal"):
        return Real(p.mu - SIGMAS * p.sigma, p.mu + SIGMAS * p.sigma, name=p.name)
    if t in ("lognormal", "qlognormal"):
        lo, hi = math.exp(p.mu - SIGMAS * p.sigma), math.exp(p.mu + SIGMAS * p.sigma)
        return Real(lo, hi, prior="log-uniform", name=p.name)
    return Real(p.low, p.high, prior="log-uniform" if p.is_log else "uniform", name=p.name)


def to_skopt(p: Parameter, dim: Dimension, value: Any) -> Any:
    """Parameter value -> a point coordinate inside ``dim``'s bounds."""
    if p.type == "choice":
        return choice_index(p, value)
    low, high = dim.bounds
    x = min(max(value, low), high)
    return int(x) if p.type == "randint" else float(x)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No skopt warnings, and one BLAS thread: the matrices are tiny, and extra threads
    only fight the trial processes for the CPU (4-10x slower GP fits on 2 cores)."""
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")
        yield


class GPSearcher(Searcher):
    """Gaussian-process BO with expected improvement, maximised over random samples.

    The searcher keeps the told points itself and builds a fresh ``Optimizer`` at every
    ``ask`` (seeded from the searcher's generator), told the data plus the pending lies in
    one go: one GP fit per ask, none per tell.
    """

    def __init__(self, space: SearchSpace, *, seed: int, mode: str) -> None:
        super().__init__(space, seed=seed, mode=mode)
        self._dims = [skopt_dimension(p) for p in space.parameters]
        self._points: list[list[Any]] = []
        self._losses: list[float] = []
        self._pending: dict[ParamsKey, list[Any]] = {}  # key -> point
        self._failures: FailureImputer[dict[str, Any]] = FailureImputer()

    def ask(self) -> dict[str, Any]:
        opt = Optimizer(
            self._dims,
            base_estimator="GP",
            n_initial_points=N_INITIAL,
            acq_func="EI",
            acq_optimizer="sampling",
            acq_optimizer_kwargs={"n_points": N_CANDIDATES},
            random_state=self._next_seed(),
        )
        points, losses = list(self._points), list(self._losses)
        if losses:  # constant liar: pending points count as the best loss so far
            lies = list(self._pending.values())
            points += lies
            losses += [min(self._losses)] * len(lies)
        with _quiet():
            if points:
                opt.tell(points, losses)
            point = opt.ask()
        proposed = {
            p.name: value_from_coordinate(p, x) for p, x in zip(self.space.parameters, point)
        }
        params = self._fresh(proposed, self._pending)
        self._pending[params_key(params)] = self._point(params)
        return params

    def tell(self, params: Mapping[str, Any], value: float | None) -> None:
        self._pending.pop(params_key(params), None)
        for told, loss, _ in self._failures.resolve(dict(params), self.to_loss(value)):
            self._points.append(self._point(told))
            self._losses.append(loss)

    def _point(self, params: Mapping[str, Any]) -> list[Any]:
        return [to_skopt(p, d, params[p.name]) for p, d in zip(self.space.parameters, self._dims)]
