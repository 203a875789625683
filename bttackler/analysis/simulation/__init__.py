"""``bttackler simulate``: many searches from recorded pools, in simulated time.

A real search on this machine is one draw of a noisy process (trial counts of one arm swing
3x between seeds); a simulated one replays recorded trials (:mod:`.pool`) through the same
indicators, guard and ETR rules a live run uses (:mod:`.engine`), so a hundred seeds take
seconds and every arm's figure gets an interval (:mod:`.summary`). What it assumes: a trial
behaves as recorded whatever else runs (no contention between slots), at the machine's speed
of then or a measured ``pace`` of it (:mod:`.pace`), a configuration the method proposes
behaves like its nearest recorded one (:mod:`.samplers`), and a kill costs ``kill_latency``
and a slot's turnaround ``turnaround`` seconds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bttackler.analysis.metrics import TsbaStatus, top10_hit_ratio, tsba
from bttackler.analysis.simulation.engine import Arm, Outcome, simulate_search
from bttackler.analysis.simulation.pace import at_pace, measure_pace
from bttackler.analysis.simulation.pool import (
    DEFAULT_KILL_LATENCY,
    Pool,
    firing,
    load_pool,
)
from bttackler.analysis.simulation.samplers import (
    MAPPINGS,
    RandomPoolSampler,
    Searcher,
    SearcherPoolSampler,
)
from bttackler.analysis.simulation.summary import Interval, best_so_far, interval
from bttackler.core.config import load_config
from bttackler.core.errors import BttacklerError
from bttackler.core.space import SearchSpace, load_space
from bttackler.diagnosis import build_from_config
from bttackler.diagnosis.avoid import Avoider, avoid_settings, outcomes_of_runs
from bttackler.diagnosis.diagnoser import build_etr_rule
from bttackler.diagnosis.etr import ETRS

ARMS: tuple[str, ...] = ("baseline", "bttackler", *ETRS, *(f"bttackler+{rule}" for rule in ETRS))
AVOID_SUFFIX = "+avoid"  # an arm with --avoid-bad, e.g. bttackler+avoid
DEFAULT_ARMS: tuple[str, ...] = (
    "baseline", "bttackler", "lce", "msr", "bttackler+msr", "asha", "bttackler+asha",
)  # fmt: skip
# (method, space, seed, mode) -> a searcher: bttackler.runtime.searchers.make_searcher, which
# the command line hands in (the analysis stage does not import the run time)
SearcherFactory = Callable[..., Searcher]
METHODS: tuple[str, ...] = ("random", "tpe", "gp", "smac")


def build_arm(name: str, config: Mapping[str, Any], pool: Pool) -> Arm:
    """The arm ``name``: ``baseline``, ``bttackler`` (the indicators), an ETR rule (``lce``,
    ``msr``, ``asha``, ``hyperband``) or ``bttackler+RULE``; any of them ``+avoid``: with
    ``--avoid-bad`` (the ``[avoid]`` settings)."""
    if name.endswith(AVOID_SUFFIX):
        arm = build_arm(name.removesuffix(AVOID_SUFFIX), config, pool)
        return replace(arm, name=name, avoid=avoid_settings(config.get("avoid", {})))
    indicators, _ = build_from_config(config)
    guarded = {i.short_name: bool(i.guarded) for i in indicators}
    if name == "baseline":
        return Arm(name)
    if name == "bttackler":
        return Arm(name, indicators=True, guarded=guarded)
    etr_name = name.removeprefix("bttackler+")
    if etr_name not in ETRS:
        raise BttacklerError(f"unknown arm {name!r}; choose from {', '.join(ARMS)} (any +avoid)")
    rule = build_etr_rule(config, etr_name, objective=pool.objective, mode=pool.mode)
    return Arm(name, indicators=name.startswith("bttackler+"), etr=rule, guarded=guarded)


def pool_kill_latency(pool: Pool) -> float:
    """The pool's measured kill latency, or this machine's when its runs killed nothing."""
    return DEFAULT_KILL_LATENCY if pool.kill_latency is None else pool.kill_latency


def pool_space(pool: Pool, what: str) -> SearchSpace:
    """The search space the pool's first run recorded (a model-based method and the model of
    trouble need it; ``what`` names which, for the error)."""
    if pool.space is None or not Path(pool.space).is_file():
        raise BttacklerError(f"{what} needs the pool's search space, recorded as "
                             f"{pool.space!r}: not found")  # fmt: skip
    return load_space(pool.space)


def _sampler(
    method: str, pool: Pool, seed: int, factory: SearcherFactory | None, mapping: str = "nearest"
) -> RandomPoolSampler | SearcherPoolSampler:
    if method == "random":
        return RandomPoolSampler(len(pool.trials), seed)
    if factory is None:
        raise BttacklerError(f"--method {method} needs a searcher factory")
    space = pool_space(pool, f"--method {method}")
    searcher = factory(method, space, seed=seed, mode=pool.mode)
    return SearcherPoolSampler(searcher, space, [t.params for t in pool.trials], mapping)


def run_seeds(
    pool: Pool, arms: Sequence[Arm], *, method: str, seeds: int, workers: int, budget: float,
    count: str, kill_latency: float, turnaround: float, config: Mapping[str, Any],
    searchers: SearcherFactory | None = None,
    avoid_examples: Sequence[tuple[Mapping[str, Any], bool]] = (), mapping: str = "nearest",
) -> dict[str, list[Outcome]]:  # fmt: skip
    """Every arm over ``seeds`` seeds; arm and baseline of one seed share the method's seed.
    A ``+avoid`` arm's model of trouble starts from ``avoid_examples`` (earlier runs')."""
    _, guard = build_from_config(config)
    outcomes: dict[str, list[Outcome]] = {a.name: [] for a in arms}
    for seed in range(seeds):
        for arm in arms:
            sampler = _sampler(method, pool, seed, searchers, mapping)
            avoider = None
            if arm.avoid is not None:
                avoider = Avoider(pool_space(pool, "--avoid-bad"), arm.avoid, seed=seed)
                avoider.learn(avoid_examples)
            outcome = simulate_search(
                pool, arm, sampler, workers=workers, budget=budget, count=count,
                kill_latency=kill_latency, turnaround=turnaround, guard=guard, avoider=avoider,
            )  # fmt: skip
            outcome.repeats = sampler.repeats
            outcomes[arm.name].append(outcome)
    return outcomes


def summarise(pool: Pool, outcomes: Mapping[str, list[Outcome]]) -> list[dict[str, Any]]:
    """Per arm: counted trials, Top10HR and TSBA against the baseline of the same seed (IQM
    with a bootstrap 95% interval and the median), kills per indicator and repeats, means."""
    base = outcomes["baseline"]
    rows = []
    for name, runs in outcomes.items():
        hr, saved, reached = [], [], 0
        for arm_run, base_run in zip(runs, base, strict=True):
            ratio = top10_hit_ratio([s.value for s in arm_run.scored],
                                    [s.value for s in base_run.scored], pool.mode)  # fmt: skip
            hr.append(math.nan if ratio is None else ratio)
            t = tsba(arm_run.scored, base_run.scored, pool.mode)
            if t.status == TsbaStatus.OK and t.tsba is not None:
                saved.append(t.tsba)
                reached += 1
        kills: dict[str, float] = {}
        for run in runs:
            for k, v in run.kills.items():
                kills[k] = kills.get(k, 0.0) + v / len(runs)
        rows.append({
            "arm": name,
            "trials": interval([len(r.scored) for r in runs]),
            "started": statistics.fmean(r.started for r in runs),
            "top10hr": None if name == "baseline" else interval(hr),
            "tsba": None if name == "baseline" else interval(saved),
            "tsba_reached": reached,
            "kills": dict(sorted(kills.items())),
            "repeats": statistics.fmean(r.repeats for r in runs),
            "bad_started": interval([100.0 * r.bad_started / r.started for r in runs
                                     if r.started]),
            "skipped": statistics.fmean(r.skipped for r in runs),
        })  # fmt: skip
    return rows


def best_so_far_by_arm(
    outcomes: Mapping[str, list[Outcome]], mode: str, budget: float
) -> dict[str, Any]:
    """``{"t": times, "arms": {arm: {"q25", "median", "q75"}}}`` of the best value so far."""
    bands = {name: best_so_far([[(s.time, s.value) for s in o.scored] for o in runs], mode, budget)
             for name, runs in outcomes.items()}  # fmt: skip
    times = next(iter(bands.values()))["t"]
    return {
        "t": times,
        "arms": {n: {k: v for k, v in b.items() if k != "t"} for n, b in bands.items()},
    }


def simulate(
    pool_paths: Sequence[Path], *, method: str = "random", arms: Sequence[str] = DEFAULT_ARMS,
    budget: float, workers: int = 2, seeds: int = 100, count: str = "last",
    kill_latency: float | None = None, turnaround: float | None = None,
    config_file: Path | None = None, searchers: SearcherFactory | None = None,
    avoid_learn_from: Sequence[Path] = (), pace: tuple[float, float] | None = None,
    pace_of: Sequence[Path] = (), mapping: str = "nearest",
) -> dict[str, Any]:  # fmt: skip
    """Load the pool, simulate ``seeds`` searches per arm and summarise (a JSON-ready dict).

    ``kill_latency`` and ``turnaround`` (seconds) default to what the pool's runs measured
    (:func:`~bttackler.analysis.simulation.pool.load_pool`; a pool without kills: this
    machine's 10 ms). ``avoid_learn_from``: earlier runs the ``+avoid`` arms' model of trouble
    starts from (as ``run --avoid-learn-from``); keep the pool's own runs out of it.
    ``pace`` (start-up, epochs) multiplies the pool's recorded times up to each trial's first
    epoch and after it (:mod:`.pace`); ``pace_of``: runs to measure both from instead (how
    fast they ran against the pool, configuration by configuration). ``mapping``: how a
    model-based method's proposal becomes a pool configuration (:class:`.SearcherPoolSampler`)."""
    if method not in METHODS:
        raise BttacklerError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if mapping not in MAPPINGS:
        raise BttacklerError(f"unknown mapping {mapping!r}; choose one of {', '.join(MAPPINGS)}")
    if "baseline" not in arms:
        arms = ["baseline", *arms]
    if seeds < 1 or workers < 1 or not budget > 0:
        raise BttacklerError("--seeds and --workers must be >= 1 and --budget > 0")
    if pace is not None and pace_of:
        raise BttacklerError("give --pace or --pace-of, not both")
    config = load_config(config_file)
    pool = load_pool(pool_paths)
    measured = measure_pace(pool, pool_space(pool, "--pace-of"), pace_of) if pace_of else None
    if measured is not None:
        pace = (measured.startup.factor, measured.epochs.factor)
    startup, epochs = pace or (1.0, 1.0)
    pool = at_pace(pool, startup, epochs)
    kill_latency = pool_kill_latency(pool) if kill_latency is None else kill_latency
    turnaround = pool.turnaround if turnaround is None else turnaround
    indicators, _ = build_from_config(config)
    pool = firing(pool, indicators)
    built = [build_arm(a, config, pool) for a in dict.fromkeys(arms)]
    examples: list[tuple[dict[str, Any], bool]] = []
    if avoid_learn_from:
        overlap = {p.resolve() for p in avoid_learn_from} & {p.resolve() for p in pool_paths}
        if overlap:
            raise BttacklerError(f"--avoid-learn-from {sorted(overlap)[0]} is in the pool: "
                                 "the model would know the outcomes it is judged on")  # fmt: skip
        examples = outcomes_of_runs(avoid_learn_from, pool_space(pool, "--avoid-learn-from"))
    outcomes = run_seeds(pool, built, method=method, seeds=seeds, workers=workers,
                         budget=budget, count=count, kill_latency=kill_latency,
                         turnaround=turnaround, config=config,
                         searchers=searchers, avoid_examples=examples,
                         mapping=mapping)  # fmt: skip
    rows = summarise(pool, outcomes)
    warnings = []
    started = statistics.fmean(o.started for o in outcomes["baseline"])
    if started > len(pool.trials):
        warnings.append(
            f"the pool holds {len(pool.trials)} trials but a baseline search started "
            f"{started:.0f} on average: configurations ran more than once "
            f"({statistics.fmean(o.repeats for o in outcomes['baseline']):.0f}"
            " repeats per seed); record a larger pool or a shorter --budget"
        )
    beyond = [f"{r['arm']} {r['started']:.0f}" for r in rows
              if r["arm"] != "baseline" and r["started"] > len(pool.trials)]  # fmt: skip
    if beyond:
        warnings.append(
            f"arms that started more trials than the pool's {len(pool.trials)} ran "
            f"configurations again ({', '.join(beyond)} per seed): a configuration that ran "
            "twice can take two top-10 places, so their Top10HR is flattered; record a larger "
            "pool or a shorter --budget"
        )
    return {
        "pools": [str(p) for p in pool_paths], "pool_trials": len(pool.trials),
        "pool_skipped": pool.skipped, "objective": pool.objective, "mode": pool.mode,
        "method": method, "mapping": mapping, "budget": budget, "workers": workers,
        "seeds": seeds, "count": count,
        "kill_latency": kill_latency, "turnaround": turnaround,
        "pace": {"startup": startup, "epochs": epochs, "measured_from": [str(p) for p in pace_of],
                 **({"measured": measured.to_json()} if measured is not None else {})},
        "avoid_learned_from": [str(p) for p in avoid_learn_from],
        "arms": [{k: (v.to_json() if isinstance(v, Interval) else v) for k, v in r.items()}
                 for r in rows],
        "best_so_far": best_so_far_by_arm(outcomes, pool.mode, budget),
        "warnings": warnings,
    }  # fmt: skip


__all__ = ["ARMS", "DEFAULT_ARMS", "METHODS", "build_arm", "run_seeds", "simulate", "summarise"]
