"""SMAC3 (``HyperparameterOptimizationFacade``: random forest + log-scaled EI) via ask/tell.

Hyperparameters: choice -> ``Categorical`` over value indices; randint -> ``Integer``;
uniform/loguniform (and q-types) -> ``Float`` (``log=True`` for the log types), rounded to
the q grid after asking; the normal types use the same finite ranges as the GP searcher,
``mu +- 3 sigma`` (lognormal: the exp of that, log scale).

SMAC tracks pending asks itself (running trials) and proposes different configurations.
Failed trials (None/NaN) are told as ``CRASHED`` at the worst cost seen so far (held back
until a first real cost arrives; SMAC's default crash cost, infinity, would break its
cost scaling). The run writes only into a private temporary directory.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ConfigSpace import Categorical, Configuration, ConfigurationSpace, Float, Integer
from smac import HyperparameterOptimizationFacade, Scenario
from smac.model.random_forest import RandomForest
from smac.runhistory import StatusType, TrialInfo, TrialValue

from bttackler.core.space import Parameter, SearchSpace
from bttackler.runtime.searchers.base import (
    FailureImputer,
    ParamsKey,
    Searcher,
    choice_index,
    params_key,
    value_from_coordinate,
)
from bttackler.runtime.searchers.gp import SIGMAS

N_INITIAL = 10  # configurations of the initial (Sobol) design
_N_TRIALS = 10**9  # SMAC needs a budget; ours is enforced by the runner


def configspace_hyperparameter(p: Parameter) -> Any:
    """The ConfigSpace hyperparameter for one parameter (see the module docstring)."""
    t = p.type
    if t == "choice":
        return Categorical(p.name, list(range(len(p.values))))
    if t == "randint":
        return Integer(p.name, (int(p.low), int(p.high) - 1))
    if t in ("normal", "qnormal"):
        return Float(p.name, (p.mu - SIGMAS * p.sigma, p.mu + SIGMAS * p.sigma))
    if t in ("lognormal", "qlognormal"):
        bounds = (math.exp(p.mu - SIGMAS * p.sigma), math.exp(p.mu + SIGMAS * p.sigma))
        return Float(p.name, bounds, log=True)
    return Float(p.name, (p.low, p.high), log=p.is_log)


def to_configspace(p: Parameter, hp: Any, value: Any) -> Any:
    """Parameter value -> a legal value of ``hp`` (clipped into its bounds)."""
    if p.type == "choice":
        return choice_index(p, value)
    x = min(max(value, hp.lower), hp.upper)
    return int(x) if p.type == "randint" else float(x)


def _random_forest(scenario: Scenario) -> RandomForest:
    """The facade's default forest with two speed fixes: one job (the default, all cores
    via joblib, made each ask ~10x slower on 2 cores) and at most 1000 leaves (the default
    2**20 makes sklearn allocate for a million leaves per tree: 0.15 s per tree fit).
    """
    return RandomForest(
        scenario.configspace,
        log_y=True,
        n_trees=10,
        ratio_features=1.0,
        min_samples_split=2,
        min_samples_leaf=1,
        bootstrapping=True,
        max_leaf_nodes=1000,
        n_jobs=1,
        seed=scenario.seed,
    )


def _never_called(config: Configuration, seed: int = 0) -> float:
    raise RuntimeError("SMAC is driven by ask/tell; the target function is never run")


class SMACSearcher(Searcher):
    """SMAC3 Bayesian optimisation with a random forest. See the module docstring."""

    def __init__(self, space: SearchSpace, *, seed: int, mode: str) -> None:
        super().__init__(space, seed=seed, mode=mode)
        logging.getLogger("smac").setLevel(logging.ERROR)
        self._cs = ConfigurationSpace(seed=self.seed)
        self._cs.add([configspace_hyperparameter(p) for p in space.parameters])
        self._tmp = tempfile.TemporaryDirectory(prefix="bttackler-smac-")
        scenario = Scenario(
            self._cs,
            deterministic=True,
            n_trials=_N_TRIALS,
            seed=self.seed,
            output_directory=Path(self._tmp.name) / "smac",
        )
        self._smac = HyperparameterOptimizationFacade(
            scenario,
            _never_called,
            model=_random_forest(scenario),
            initial_design=HyperparameterOptimizationFacade.get_initial_design(
                scenario, n_configs=N_INITIAL
            ),
            intensifier=HyperparameterOptimizationFacade.get_intensifier(
                scenario, max_config_calls=1
            ),
            overwrite=True,
            logging_level=False,
        )
        self._pending: dict[ParamsKey, TrialInfo] = {}
        self._failures: FailureImputer[TrialInfo] = FailureImputer()

    def ask(self) -> dict[str, Any]:
        info = self._smac.ask()
        proposed = self._params(info.config)
        params = self._fresh(proposed, self._pending)
        if params is not proposed:
            info = TrialInfo(config=self._config(params), seed=info.seed)
        self._pending[params_key(params)] = info
        return params

    def tell(self, params: Mapping[str, Any], value: float | None) -> None:
        info = self._pending.pop(params_key(params), None)
        if info is None:
            info = TrialInfo(config=self._config(params), seed=self.seed)
        for told, cost, failed in self._failures.resolve(info, self.to_loss(value)):
            status = StatusType.CRASHED if failed else StatusType.SUCCESS
            self._smac.tell(told, TrialValue(cost=cost, status=status), save=False)

    def _params(self, config: Configuration) -> dict[str, Any]:
        return {p.name: value_from_coordinate(p, config[p.name]) for p in self.space.parameters}

    def _config(self, params: Mapping[str, Any]) -> Configuration:
        values = {
            p.name: to_configspace(p, self._cs[p.name], params[p.name])
            for p in self.space.parameters
        }
        return Configuration(self._cs, values=values)
