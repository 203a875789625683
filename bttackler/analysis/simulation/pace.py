"""The machine's pace: how fast trials ran in some runs, against how fast the pool's ran.

A pool replays the durations it recorded, so a simulation runs at the pace the machine had
then. On a shared host that pace drifts between hours: on this machine the same
configurations' epochs ran 0.85x to 1.2x the pool's durations an hour or two later, enough to
move a simulated trial count by as much. :func:`measure_pace` compares runs recorded at the
time of interest (a real run the simulation should predict, or a short baseline run just
before a study) with the pool, configuration by configuration: a regression of an epoch's
log duration on its trial's configuration (encoded as the model of trouble encodes it) and on
whether it is the trial's first epoch, fitted on the pool's epochs, predicts the runs'
epochs; a pace is the geometric mean of actual over predicted. It is measured twice: on the
first epochs, which hold the trial's start-up (a fork, building the model and the data: costs
that drift apart from the training's), and on the later ones; on short trials (diabetes:
0.5 s, a tenth of it start-up) the two moved in opposite directions by 15%. Only durations
enter it: never a count, a value or a verdict. :func:`at_pace` scales a pool's times by it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bttackler.analysis.simulation.pool import Pool
from bttackler.core.errors import BttacklerError
from bttackler.core.space import SearchSpace
from bttackler.core.store import ReadOnlyStore
from bttackler.diagnosis.encoding import columns, encode

BOOTSTRAP = 400  # resamples of the runs' trials for the pace's interval
MIN_EPOCHS = 8  # fewer recorded first (or later) epochs cannot say how long a configuration's take


@dataclass(frozen=True)
class TrialDurations:
    """One trial's configuration and its epochs' durations in seconds (the first from the
    trial's start, so with its start-up)."""

    params: Mapping[str, Any]
    durations: tuple[float, ...]


@dataclass(frozen=True)
class Ratio:
    """Actual over predicted durations (1.0: as fast as the pool; 0.9: 10% faster), with a
    bootstrap 95% interval over the trials, and how many trials and epochs it rests on."""

    factor: float
    low: float
    high: float
    trials: int
    epochs: int

    def to_json(self) -> dict[str, float | int]:
        return {"factor": self.factor, "low": self.low, "high": self.high,
                "trials": self.trials, "epochs": self.epochs}  # fmt: skip


@dataclass(frozen=True)
class Pace:
    """How fast trials start (their first epoch, start-up included) and train (every later
    epoch), each against the pool's."""

    startup: Ratio
    epochs: Ratio

    def to_json(self) -> dict[str, dict[str, float | int]]:
        return {"startup": self.startup.to_json(), "epochs": self.epochs.to_json()}


def pool_durations(pool: Pool) -> list[TrialDurations]:
    """The pool's trials' epoch durations, from their recorded events."""
    out = []
    for trial in pool.trials:
        times = [e.time for e in trial.events if e.is_epoch]
        out.append(TrialDurations(trial.params, durations_of(0.0, times)))
    return out


def run_durations(path: Path) -> list[TrialDurations]:
    """Every started trial of the run at ``path`` with its epochs' durations (a stopped trial's
    complete epochs count too: how long an epoch takes does not depend on what ended it)."""
    store = ReadOnlyStore.open(path)
    try:
        out = []
        for row in store.trials():
            if row.started is None:
                continue
            times = [e.time for e in store.epochs(row.id)]
            if times:
                out.append(TrialDurations(dict(row.params), durations_of(row.started, times)))
        return out
    finally:
        store.close()


def durations_of(start: float, times: Sequence[float]) -> tuple[float, ...]:
    """Seconds each epoch took: from ``start`` to the first epoch's time, then between epochs
    (out-of-order or zero-length ones, which a clock step can leave, are dropped)."""
    out = []
    previous = start
    for t in times:
        if t > previous:
            out.append(t - previous)
        previous = max(previous, t)
    return tuple(out)


def features(
    space: SearchSpace, trials: Sequence[TrialDurations], *, first: bool
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The trials' first epochs (``first``) or their later ones: one row per epoch, the
    trial's encoded configuration; the epochs' log durations; and which trial each row is."""
    encoded = encode(columns(space), [t.params for t in trials])
    rows, target, owner = [], [], []
    for i, trial in enumerate(trials):
        for d in trial.durations[:1] if first else trial.durations[1:]:
            rows.append(encoded[i])
            target.append(math.log(d))
            owner.append(i)
    width = encoded.shape[1] if encoded.ndim == 2 else 0
    return np.array(rows, dtype=float).reshape(-1, width), np.array(target), owner


def measure_pace(pool: Pool, space: SearchSpace, runs: Sequence[Path], *, seed: int = 0) -> Pace:
    """How fast ``runs`` ran against ``pool``, configuration by configuration (module
    docstring).

    Raises:
        BttacklerError: the runs hold no epoch, or the pool too few to learn durations from.
    """
    observed = [t for path in runs for t in run_durations(path)]
    if not observed:
        raise BttacklerError(f"{', '.join(map(str, runs))}: no trial reported an epoch, so "
                             "there is no pace to measure")  # fmt: skip
    return pace_against(pool_durations(pool), observed, space, seed=seed)


def pace_against(
    reference: Sequence[TrialDurations], observed: Sequence[TrialDurations], space: SearchSpace,
    *, seed: int = 0,
) -> Pace:  # fmt: skip
    """The geometric mean of ``observed``'s epoch durations over what ``reference``'s predict
    for the same configurations: first epochs and later ones apart, each by its own model.

    Raises:
        BttacklerError: too few reference epochs, or no observed first or later epoch.
    """
    ratios = []
    for first, what in ((True, "first epochs"), (False, "later epochs")):
        x_ref, y_ref, _ = features(space, reference, first=first)
        if len(y_ref) < MIN_EPOCHS:
            raise BttacklerError(f"the pool holds {len(y_ref)} {what}: too few to learn how "
                                 f"long a configuration's take ({MIN_EPOCHS} or more)")  # fmt: skip
        x_obs, y_obs, owner = features(space, observed, first=first)
        if not len(y_obs):
            raise BttacklerError(f"no trial of those runs reported {what}: no pace to measure "
                                 "from them")  # fmt: skip
        residual = y_obs - fitted(x_ref, y_ref, seed).predict(x_obs)
        per_trial: dict[int, list[float]] = {}
        for i, r in zip(owner, residual, strict=True):
            per_trial.setdefault(i, []).append(float(r))
        ratios.append(ratio(list(per_trial.values()), seed))
    return Pace(startup=ratios[0], epochs=ratios[1])


def fitted(x: np.ndarray, y: np.ndarray, seed: int) -> Any:
    """A gradient-boosted regression of ``y`` on ``x`` (leaves small enough for small pools)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    leaf = max(2, min(20, len(y) // 20))
    return HistGradientBoostingRegressor(max_iter=200, min_samples_leaf=leaf,
                                         random_state=seed).fit(x, y)  # fmt: skip


def ratio(per_trial: Sequence[Sequence[float]], seed: int) -> Ratio:
    """exp(mean log ratio) over every epoch of ``per_trial``, with an interval that resamples
    the trials."""
    trials = [(sum(r), len(r)) for r in per_trial if r]
    total = sum(n for _, n in trials)
    rng = random.Random(seed)
    means = []
    for _ in range(BOOTSTRAP):
        draw = [trials[rng.randrange(len(trials))] for _ in trials]
        means.append(sum(s for s, _ in draw) / sum(n for _, n in draw))
    means.sort()
    return Ratio(
        factor=math.exp(sum(s for s, _ in trials) / total),
        low=math.exp(means[int(0.025 * (len(means) - 1))]),
        high=math.exp(means[int(0.975 * (len(means) - 1))]),
        trials=len(trials),
        epochs=total,
    )


def at_pace(pool: Pool, startup: float, epochs: float | None = None) -> Pool:
    """``pool`` with each trial's time up to its first epoch multiplied by ``startup`` and
    every later time (its later epochs, its end) by ``epochs`` (default: ``startup``)."""
    epochs = startup if epochs is None else epochs
    if not (startup > 0 and epochs > 0):
        raise BttacklerError(f"a pace must be > 0, not {min(startup, epochs)}")
    if startup == epochs == 1.0:
        return pool

    def scaled(t: float, first: float) -> float:
        return t * startup if t <= first else first * startup + (t - first) * epochs

    trials = []
    for trial in pool.trials:
        first = next((e.time for e in trial.events if e.is_epoch), trial.end)
        events = tuple(replace(e, time=scaled(e.time, first)) for e in trial.events)
        trials.append(replace(trial, events=events, end=scaled(trial.end, first)))
    return replace(pool, trials=tuple(trials))


__all__ = ["Pace", "Ratio", "TrialDurations", "at_pace", "durations_of", "measure_pace",
           "pace_against", "pool_durations", "run_durations"]  # fmt: skip
