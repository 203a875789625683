"""TPE (hyperopt's ``tpe.suggest``) driven by hand with a ``Trials`` object.

Each ``ask`` inserts a running trial document; ``tell`` completes it. Hyperopt itself
scores running and failed documents as an infinite loss, so pending asks and failed
trials (None/NaN, stored with ``STATUS_FAIL``) count as the worst configurations: parallel
asks are steered away from each other, and TPE avoids regions that fail. A configuration
told without being asked is added as a new completed document.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import hyperopt
from hyperopt import hp, tpe

from bttackler.core.space import Parameter, SearchSpace
from bttackler.runtime.searchers.base import ParamsKey, Searcher, params_key

# Random configurations before TPE starts modelling (hyperopt's default is 20, which
# leaves little room for modelling within a few dozen trials).
N_STARTUP = 10


def hyperopt_expr(p: Parameter) -> Any:
    """The ``hp.*`` expression for one parameter (choice is searched by index)."""
    name, t = p.name, p.type
    if t == "choice":
        return hp.choice(name, list(range(len(p.values))))
    if t == "randint":  # ordinal ints: quniform over [lower - 0.5, upper - 0.5], then clipped
        return hp.quniform(name, p.low - 0.5, p.high - 0.5, 1)
    if t in ("uniform", "quniform"):
        return hp.uniform(name, p.low, p.high)
    if t in ("loguniform", "qloguniform"):
        return hp.loguniform(name, math.log(p.low), math.log(p.high))
    if t in ("normal", "qnormal"):
        return hp.normal(name, p.mu, p.sigma)
    return hp.lognormal(name, p.mu, p.sigma)


def from_hyperopt(p: Parameter, x: Any) -> Any:
    """Hyperopt's raw value -> the parameter value (q-rounding and clipping done here)."""
    if p.type == "choice":
        return p.values[int(x)]
    return p.coerce(float(x))


def to_hyperopt(p: Parameter, value: Any) -> Any:
    """Parameter value -> the raw value hyperopt stores for it."""
    if p.type == "choice":
        return next(i for i, v in enumerate(p.values) if type(v) is type(value) and v == value)
    return float(value)


class TPESearcher(Searcher):
    """Tree-structured Parzen Estimator (hyperopt). See the module docstring."""

    def __init__(self, space: SearchSpace, *, seed: int, mode: str) -> None:
        super().__init__(space, seed=seed, mode=mode)
        logging.getLogger("hyperopt").setLevel(logging.WARNING)
        expr = {p.name: hyperopt_expr(p) for p in space.parameters}
        self._domain = hyperopt.Domain(lambda _: 0.0, expr)
        self._trials = hyperopt.Trials()
        self._pending: dict[ParamsKey, dict[str, Any]] = {}  # key -> trial document

    def ask(self) -> dict[str, Any]:
        (tid,) = self._trials.new_trial_ids(1)
        (doc,) = tpe.suggest(
            [tid],
            self._domain,
            self._trials,
            self._next_seed(),
            n_startup_jobs=N_STARTUP,
            verbose=False,
        )
        vals = doc["misc"]["vals"]
        proposed = {p.name: from_hyperopt(p, vals[p.name][0]) for p in self.space.parameters}
        params = self._fresh(proposed, self._pending)
        if params is not proposed:
            doc = self._new_doc(tid, params)
        doc["state"] = hyperopt.JOB_STATE_RUNNING
        self._trials.insert_trial_docs([doc])
        self._trials.refresh()
        self._pending[params_key(params)] = doc
        return params

    def tell(self, params: Mapping[str, Any], value: float | None) -> None:
        doc = self._pending.pop(params_key(params), None)
        if doc is None:
            (tid,) = self._trials.new_trial_ids(1)
            doc = self._new_doc(tid, dict(params))
            self._trials.insert_trial_docs([doc])
        loss = self.to_loss(value)
        if loss is None:
            doc["result"] = {"status": hyperopt.STATUS_FAIL}
        else:
            doc["result"] = {"status": hyperopt.STATUS_OK, "loss": loss}
        doc["state"] = hyperopt.JOB_STATE_DONE
        self._trials.refresh()

    def _new_doc(self, tid: int, params: Mapping[str, Any]) -> dict[str, Any]:
        misc = {
            "tid": tid,
            "cmd": self._domain.cmd,
            "workdir": self._domain.workdir,
            "idxs": {p.name: [tid] for p in self.space.parameters},
            "vals": {p.name: [to_hyperopt(p, params[p.name])] for p in self.space.parameters},
        }
        (doc,) = self._trials.new_trial_docs([tid], [None], [self._domain.new_result()], [misc])
        return dict(doc)
