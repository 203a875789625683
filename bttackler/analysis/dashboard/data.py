"""What the dashboard shows, as JSON-ready dicts read from runs' stores opened read-only.

Every read goes through :class:`~bttackler.core.store.ReadOnlyStore` in one short snapshot
(a read transaction): SQLite refuses any write on that connection, and in WAL mode a reader
never blocks the search that is writing the store. The figures of a run are the ones
``report`` draws (:func:`bttackler.analysis.report.figure_data`), counted by the same rule;
a trial's per-layer views use the indicators' own arithmetic
(:func:`~bttackler.diagnosis.indicators.adjacent_gradient_ratios`,
:func:`~bttackler.diagnosis.indicators.inactivity`) and the bounds of the run's own
``config.toml`` built by the indicators' settings builders.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bttackler.analysis import metrics, report
from bttackler.analysis.learn import space_of, trouble_of
from bttackler.analysis.metrics import RunData
from bttackler.analysis.replay import replay_config
from bttackler.core.errors import BttacklerError
from bttackler.core.history import EpochRecord
from bttackler.core.objective import CountRule
from bttackler.core.run_context import RunContext
from bttackler.core.store import ReadOnlyStore, Store, TrialRow
from bttackler.diagnosis.indicators import (
    adjacent_gradient_ratios,
    build_settings,
    inactivity,
    median_gradient_ratio,
)

# A run whose last session says "running" but whose store has not been written for this long
# is not going on any more (its process died: ``bttackler run --resume`` continues it).
STALE_SECONDS = 10.0
OBJECTIVE_KEYS = ("train_loss",)


def is_run(path: Path) -> bool:
    return (path / Store.FILENAME).is_file()


def discover(targets: Sequence[Path]) -> list[Path]:
    """The run directories ``targets`` name: a run itself, or a folder whose sub-folders are
    runs (searched one level deep, sorted by name).

    Raises:
        BttacklerError: a target does not exist, or is neither a run nor a folder of runs.
    """
    runs: list[Path] = []
    for target in targets:
        if not target.exists():
            raise BttacklerError(f"{target} does not exist")
        if is_run(target):
            runs.append(target)
            continue
        if not target.is_dir():
            raise BttacklerError(f"{target} is not a bttackler run (no {Store.FILENAME})")
        found = sorted(p for p in target.iterdir() if p.is_dir() and is_run(p))
        if not found and not targets_may_be_empty(target):
            raise BttacklerError(
                f"{target} is neither a run nor a folder of runs (no {Store.FILENAME} in it "
                "or its sub-folders)"
            )
        runs.extend(found)
    return runs


def targets_may_be_empty(target: Path) -> bool:
    """A results folder with no run yet is fine (a search is about to start): it has no
    files other than folders and a README."""
    return all(p.is_dir() or p.name.lower().startswith("readme") for p in target.iterdir())


def store_version(path: Path) -> tuple[int, ...]:
    """Changes whenever the store's content may have changed (database and WAL files)."""
    out: list[int] = []
    for name in (Store.FILENAME, Store.FILENAME + "-wal"):
        try:
            st = os.stat(path / name)
            out += [st.st_mtime_ns, st.st_size]
        except FileNotFoundError:
            out += [0, 0]
    return tuple(out)


def last_write(path: Path) -> float:
    times = []
    for name in (Store.FILENAME, Store.FILENAME + "-wal"):
        try:
            times.append(os.stat(path / name).st_mtime)
        except FileNotFoundError:
            pass
    return max(times, default=0.0)


class NoSuchTrial(BttacklerError):
    """The run has no trial of that id."""


@dataclass(frozen=True)
class Snapshot:
    """One consistent read of a run's store: what the runs list and the run page need."""

    run: RunData
    sessions: tuple[tuple[int, float, float | None, str], ...]
    version: tuple[int, ...]


def read_run(path: Path) -> Snapshot:
    """Read ``path``'s store in one snapshot.

    Raises:
        BttacklerError: not a run, or its store cannot be read (locked by a writer for longer
            than the busy timeout, damaged).
    """
    version = store_version(path)
    store = ReadOnlyStore.open(path)
    try:
        with store.snapshot():
            meta = store.meta()
            trials = tuple(store.trials())
            verdicts = tuple(store.verdicts())
            sessions = tuple(store.sessions())
    except Exception as exc:  # sqlite3.OperationalError: locked, busy, malformed
        raise BttacklerError(f"{path}: its store cannot be read now ({exc})") from exc
    finally:
        store.close()
    run = RunData.of(path, meta, tuple(trials), tuple(verdicts))
    return Snapshot(run, sessions, version)


def run_state(snap: Snapshot, now: float | None = None) -> str:
    """``running`` while a search writes the store, else how its last session ended."""
    if not snap.sessions:
        return "starting"
    status = snap.sessions[-1][3]
    if status != "running":
        return status
    now = time.time() if now is None else now
    if now - last_write(snap.run.path) > STALE_SECONDS:
        return "died (bttackler run --resume continues it)"
    return "running"


def run_summary(key: str, snap: Snapshot, count: CountRule) -> dict[str, Any]:
    """One line of the runs list."""
    run = snap.run
    meta = run.meta
    states: dict[str, int] = {}
    for t in run.trials:
        states[t.state] = states.get(t.state, 0) + 1
    elapsed = float(meta.get("elapsed") or 0.0)
    best = metrics.top1([s.value for s in run.scored(count)], run.mode)
    return {
        "key": key,
        "name": run.name,
        "path": str(run.path),
        "task": meta.get("task"),
        "method": meta.get("method"),
        "budget": run.budget,
        "elapsed": elapsed,
        "progress": min(1.0, elapsed / run.budget) if run.budget else None,
        "state": run_state(snap),
        "diagnosis": meta.get("diagnosis"),
        "etr": meta.get("etr"),
        "objective": run.objective,
        "mode": run.mode,
        "trials": len(run.trials),
        "states": states,
        "best": best,
    }


def trial_json(row: TrialRow, count: CountRule) -> dict[str, Any]:
    doc = row.to_json()
    doc["counted"] = metrics.counted_value(row, count)
    return doc


def run_doc(
    key: str, snap: Snapshot, count: CountRule, parallel_view: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A run's page: its summary, every trial and the figures of ``report``;
    ``parallel_view``: :func:`parallel` of this snapshot when the caller kept it."""
    run = snap.run
    return {
        "summary": run_summary(key, snap, count),
        "count": count.value,
        "count_label": count.label,
        "trials": [trial_json(t, count) for t in run.trials],
        "figures": overlay_figures({key: snap}, count),
        "parallel": parallel(run, count) if parallel_view is None else parallel_view,
    }


def parallel(run: RunData, count: CountRule) -> dict[str, Any] | None:
    """The parallel-coordinates view: one axis per parameter of the run's search space (log
    scale for log parameters, the values of a choice in file order), one line per trial with
    a known outcome, its counted value (the colour) and its trouble (``explain``'s: the first
    problem verdict, recorded or acted on, or "failed"). None when the space is unknown."""
    try:
        space = space_of(run)
    except BttacklerError:
        return None
    axes: list[dict[str, Any]] = []
    for p in space.parameters:
        if p.type == "choice":
            axes.append({"name": p.name, "kind": "choice", "values": [str(v) for v in p.values]})
            continue
        seen = [float(t.params[p.name]) for t in run.trials
                if isinstance(t.params.get(p.name), int | float)]  # fmt: skip
        bounds = [x for x in (p.low, p.high) if math.isfinite(x)] or seen or [0.0, 1.0]
        low, high = min([*bounds, *seen]), max([*bounds, *seen])
        log = p.is_log and low > 0
        axes.append({"name": p.name, "kind": "log" if log else "linear", "low": low, "high": high})
    troubles = trouble_of(run)
    lines = [
        {"id": t.id, "params": {k: (str(v) if isinstance(v, str | bool) else v)
                                for k, v in t.params.items()},
         "counted": metrics.counted_value(t, count), "trouble": troubles[t.id]}
        for t in run.trials if t.id in troubles
    ]  # fmt: skip
    return {"axes": axes, "trials": lines, "objective": run.objective, "mode": run.mode}


def overlay_figures(snaps: Mapping[str, Snapshot], count: CountRule) -> dict[str, Any]:
    """The figures of ``report`` for several runs overlaid, as ``compare`` draws them."""
    figures = report.figure_data({key: [s.run] for key, s in snaps.items()}, count)
    figures.pop("final_objective_histogram", None)
    return figures


# ---------------------------------------------------------------- one trial
def thresholds(run_dir: Path) -> dict[str, Any]:
    """The EAG/ERG bounds and the LAR threshold the run judged with: its ``config.toml``
    snapshot (the defaults without one), through the indicators' own settings builders."""
    config = replay_config(run_dir)
    table = config.get("indicators", {}) if isinstance(config, Mapping) else {}
    enabled = table.get("enabled")
    out: dict[str, Any] = {}
    for name in ("EAG", "ERG", "LAR"):
        sub = table.get(name, {})
        settings = build_settings(name, sub if isinstance(sub, Mapping) else {})
        values = dict(settings.__dict__)
        values["enabled"] = enabled is None or name in enabled
        out[name] = values
    return out


def _series(records: Sequence[EpochRecord], per_epoch: Sequence[Mapping[int, float]],
            names: Mapping[int, str]) -> dict[str, Any]:  # fmt: skip
    keys = sorted(names)
    return {
        "layers": [names[k] for k in keys],
        "series": [[row.get(k) for row in per_epoch] for k in keys],
    }


def trial_doc(path: Path, trial_id: int, count: CountRule) -> dict[str, Any]:
    """A trial's page: curves per epoch, the verdict, per-layer statistics and the bounds.

    Raises:
        BttacklerError: the run has no trial ``trial_id``, or its store cannot be read.
    """
    store = ReadOnlyStore.open(path)
    try:
        with store.snapshot():
            meta = store.meta()
            row = next(
                (t for t in store.trials() if t.id == trial_id), None
            )  # a few ms even for 1,000 trials
            epochs = store.epochs(trial_id)
            stats = store.layer_stats(trial_id)
            nonfinite = store.nonfinite_events(trial_id)
            verdicts = [v for v in store.verdicts() if v["trial_id"] == trial_id]
    except BttacklerError:
        raise
    except Exception as exc:
        raise BttacklerError(f"{path}: its store cannot be read now ({exc})") from exc
    finally:
        store.close()
    if row is None:
        raise NoSuchTrial(f"{path.name} has no trial {trial_id}")
    by_epoch: dict[int, list[tuple[str, int, str, Sequence[float]]]] = {}
    for epoch, kind, index, name, values in stats:
        by_epoch.setdefault(epoch, []).append((kind, index, name, values))
    records = [
        EpochRecord.from_rows(e, m, by_epoch.pop(e, []), time=t) for e, t, m in epochs
    ]  # a repeated epoch number: its statistics go to the first record, as in replay
    metric_names: list[str] = []
    for r in records:
        metric_names += [k for k in r.metrics if k not in metric_names]
    curves = {k: [r.metrics.get(k) for r in records] for k in metric_names}

    grad_names: dict[int, str] = {}
    grad_rows: list[dict[int, float]] = []
    pair_names: dict[int, str] = {}
    pair_rows: list[dict[int, float]] = []
    medians: list[float | None] = []
    act_names: dict[int, str] = {}
    act_rows: list[dict[int, float]] = []
    measure = "inactive ratio"
    for r in records:
        grads = sorted(r.grads, key=lambda s: s.index)
        grad_rows.append({g.index: float(g.values.get("abs_mean", math.nan)) for g in grads})
        grad_names.update({g.index: g.name for g in grads})
        pairs: dict[int, float] = {}
        for lower, upper in zip(grads[:-1], grads[1:]):
            ratio = adjacent_gradient_ratios([lower, upper])  # the indicators' own rule
            pair_names[lower.index] = f"{lower.name} / {upper.name}"
            if ratio:
                pairs[lower.index] = ratio[0]
        pair_rows.append(pairs)
        medians.append(median_gradient_ratio(r.grads))
        measure, measured = inactivity(r)
        act_rows.append({layer.index: v for layer, v in measured})
        act_names.update({layer.index: layer.name for layer, _ in measured})

    context = RunContext.from_meta(meta, where=f"run {path.name}: mode")
    acted = next((v for v in verdicts if v["acted"]), None)
    verdict = None
    if row.indicator is not None:
        verdict = {
            "indicator": row.indicator,
            "rule": row.rule,
            "epoch": row.verdict_epoch,
            "values": acted["values"] if acted else {},
            "time": acted["time"] if acted else None,
        }
    return {
        "run": path.name,
        "objective": context.objective or "objective",
        "mode": context.mode.value,
        "max_epochs": context.max_epochs if meta.get("max_epochs") else None,
        "trial": trial_json(row, count),
        # epochs counted from 1, as the verdict's epoch and every command count them
        "epochs": list(range(1, len(records) + 1)),
        "times": [r.time for r in records],
        "curves": curves,
        "verdict": verdict,
        "verdicts": verdicts,
        "nonfinite": [
            {"epoch": e, "batch": b, "layer": layer, "nan": n, "inf": i, "time": t}
            for e, b, layer, n, i, t in nonfinite
        ],
        "grad_abs_mean": _series(records, grad_rows, grad_names),
        "grad_ratios": {**_series(records, pair_rows, pair_names), "median": medians},
        "inactivity": {**_series(records, act_rows, act_names), "measure": measure},
        "thresholds": thresholds(path),
    }
