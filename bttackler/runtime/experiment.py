"""Setting a run up (new or resumed) from the effective configuration, and running it.

All validation happens before anything is written: bad input leaves no run directory behind.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bttackler.core.config import RunSettings, read_toml, run_settings, write_config
from bttackler.core.errors import BttacklerError
from bttackler.core.objective import CountRule
from bttackler.core.ring import sweep_stale_segments
from bttackler.core.run_context import RunContext
from bttackler.core.space import SearchSpace, load_space
from bttackler.core.store import Store, TrialRow
from bttackler.core.task import TaskSpec, call_task_code, load_task, with_planned_epochs
from bttackler.core.trial_state import RANKED, TrialState
from bttackler.diagnosis import build_etr_rule, build_from_config, make_diagnoser_factory
from bttackler.diagnosis.avoid import Avoider, avoid_settings, outcomes, outcomes_of_runs
from bttackler.runtime.backends.base import Backend
from bttackler.runtime.backends.local import LocalBackend
from bttackler.runtime.ledger import Ledger
from bttackler.runtime.scheduler import Scheduler, SchedulerSettings
from bttackler.runtime.searchers import make_searcher
from bttackler.runtime.snapshot import RunResult, View
from bttackler.runtime.worker import SlotSpec

CONFIG_SNAPSHOT = "config.toml"


@dataclass
class PreparedRun:
    run_dir: Path
    config: dict[str, Any]
    settings: RunSettings
    task: TaskSpec
    space: SearchSpace
    resumed: bool
    # (configuration, bad) of the runs --avoid-learn-from names: the model of trouble's start
    avoid_examples: list[tuple[dict[str, Any], bool]] = field(default_factory=list)


def default_run_name(task: str, method: str) -> str:
    return f"{Path(task).stem}-{method}-{time.strftime('%Y%m%d-%H%M%S')}"


def _load_space(settings: RunSettings, task: TaskSpec) -> SearchSpace:
    path = settings.space or (str(task.default_space) if task.default_space else None)
    if path is None:
        raise BttacklerError(f"task {task.name} has no DEFAULT_SPACE; give --space FILE")
    return load_space(path)


def prepare_new(config: dict[str, Any]) -> PreparedRun:
    settings = run_settings(config)
    if settings.space:
        load_space(settings.space)  # a typo in --space fails before the task imports torch
    task, module = load_task(settings.task)
    task = with_planned_epochs(task, module, settings.task_options)
    space = _load_space(settings, task)
    _prepare_task(module, task, settings)
    make_searcher(
        settings.method, space, seed=settings.seed, mode=task.mode, shuffle=settings.grid_shuffle
    )  # validates
    build_from_config(config)  # validates [indicators] and the guard
    avoid_settings(config.get("avoid", {}))  # validates [avoid]
    examples = outcomes_of_runs(settings.avoid_learn_from, space)  # read before the run exists
    if settings.etr is not None:
        build_etr_rule(config, settings.etr, objective=task.objective, mode=task.mode)
    if settings.backend == "ray":
        _check_ray(settings)
    name = settings.name or default_run_name(settings.task, settings.method)
    run_dir = settings.results_dir / name
    if run_dir.exists():
        raise BttacklerError(
            f"results directory {run_dir} already exists; continue it with "
            f"--resume {run_dir} or choose another --name"
        )
    # Nothing was written so far; from here on the run exists.
    run_dir.mkdir(parents=True)
    learned = [str(Path(r).expanduser().resolve()) for r in settings.avoid_learn_from]
    config = {**config, "run": {**config.get("run", {}), "name": name,
                                "task": str(task.path), "space": space.source,
                                **({"avoid_learn_from": learned} if learned else {})}}  # fmt: skip
    write_config(config, run_dir / CONFIG_SNAPSHOT)
    return PreparedRun(run_dir, config, run_settings(config), task, space, resumed=False,
                       avoid_examples=examples)  # fmt: skip


def prepare_resume(run_dir: Path) -> PreparedRun:
    snapshot = run_dir / CONFIG_SNAPSHOT
    if not (run_dir / Store.FILENAME).is_file() or not snapshot.is_file():
        raise BttacklerError(f"{run_dir} is not a bttackler run (no {Store.FILENAME})")
    config = read_toml(snapshot)
    settings = run_settings(config)
    task, module = load_task(settings.task)
    task = with_planned_epochs(task, module, settings.task_options)
    space = _load_space(settings, task)
    _prepare_task(module, task, settings)
    if settings.backend == "ray":
        _check_ray(settings)
    examples = outcomes_of_runs(settings.avoid_learn_from, space)
    return PreparedRun(run_dir, config, settings, task, space, resumed=True,
                       avoid_examples=examples)  # fmt: skip


def _check_ray(settings: RunSettings) -> None:
    """Ray installed, its cluster joined and big enough for the slots, before the run's
    directory exists (the connection is kept for the run)."""
    from bttackler.runtime.backends.ray_connect import cluster_shape, connect, slot_shape

    ray = connect(settings.ray_address)
    cpus, gpus, _ = cluster_shape(ray.nodes())
    slot_shape(settings.workers, cpus, gpus if settings.gpus != "none" else 0,
               settings.cpus_per_trial)  # fmt: skip


def _prepare_task(module: Any, task: TaskSpec, settings: RunSettings) -> None:
    """Run the task's optional ``prepare(options, data_dir)`` once, in the main process, so
    bad task options or missing data are one clear error before anything is written."""
    prepare = getattr(module, "prepare", None)
    if not callable(prepare):
        return
    data_dir = settings.data_dir or os.environ.get("BTTACKLER_DATA")
    options = dict(settings.task_options)
    call_task_code(task.name, "prepare()", prepare, options, Path(data_dir) if data_dir else None)


def _common_spec(settings: RunSettings, task_path: Path) -> dict[str, Any]:
    """What every slot of a run is told, whatever runs it."""
    return {
        "shm_name": "",
        "task_path": str(task_path),
        "parent_pid": os.getpid(),
        "data_dir": _absolute(settings.data_dir or os.environ.get("BTTACKLER_DATA")),
        "options": dict(settings.task_options),
        "trace": settings.trace,
    }


def _absolute(path: str | None) -> str | None:
    """A data folder as every slot must see it, wherever its process started (a Ray node's
    worker starts in the folder of ``ray start``)."""
    return str(Path(path).expanduser().absolute()) if path else None


def make_backend(settings: RunSettings, task_path: Path) -> tuple[Backend, list[SlotSpec]]:
    """The backend the run asked for and its slots. Ray is imported only when asked for; a
    cluster that cannot hold the slots is one clear error before any trial starts."""
    if settings.backend != "ray":
        return LocalBackend(settings.ring_capacity), slot_specs(settings, task_path)
    from bttackler.runtime.backends.ray_cluster import RayBackend

    backend = RayBackend(
        address=settings.ray_address,
        cpus_per_trial=settings.cpus_per_trial,
        ring_capacity=settings.ring_capacity,
        task_path=task_path,
        use_gpus=settings.gpus != "none",
        kill_grace=settings.kill_grace,
    )
    try:
        return backend, backend.slot_specs(settings.workers, _common_spec(settings, task_path))
    except BaseException:
        backend.close([])
        raise


def slot_specs(settings: RunSettings, task_path: Path) -> list[SlotSpec]:
    """One slot per visible GPU, otherwise ``workers`` CPU slots sharing the cores."""
    gpus = _visible_gpus() if settings.gpus == "auto" else 0
    common = _common_spec(settings, task_path)
    if gpus:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = visible.split(",") if visible else [str(i) for i in range(gpus)]
        threads = max(1, (os.cpu_count() or 1) // gpus)
        return [
            SlotSpec(index=i, device="cuda:0", cuda_visible_devices=ids[i], threads=threads,
                     **common)
            for i in range(gpus)
        ]  # fmt: skip
    threads = max(1, (os.cpu_count() or 1) // settings.workers)
    return [
        SlotSpec(index=i, device="cpu", cuda_visible_devices="", threads=threads, **common)
        for i in range(settings.workers)
    ]


def _visible_gpus() -> int:
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return 0
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def execute(prepared: PreparedRun, view: View) -> RunResult:
    """Run (or continue) the search; how it ended, for the summary."""
    settings, task = prepared.settings, prepared.task
    context = RunContext.from_task(task)  # handed down whole, and stored as the run's meta
    sweep_stale_segments()
    searcher = make_searcher(
        settings.method,
        prepared.space,
        seed=settings.seed,
        mode=task.mode,
        shuffle=settings.grid_shuffle,
    )
    store = Store.open(prepared.run_dir)
    try:
        clock_offset = 0.0
        retries: list[TrialRow] = []
        previous: list[TrialRow] = []
        if prepared.resumed:
            meta = store.meta()
            clock_offset = max(float(meta.get("elapsed", 0.0)), store.latest_time())
            retries = store.mark_unfinished("the run's process died; re-run on resume")
            previous = store.trials()
            _retell(searcher, previous, settings.count)
        else:
            store.set_meta(
                task=task.name, task_path=str(task.path), method=settings.method,
                **context.to_meta(), budget=settings.budget_seconds, max_trials=settings.max_trials,
                seed=settings.seed, created=time.time(), elapsed=0.0,
                diagnosis=settings.diagnosis, trace=settings.trace, etr=settings.etr,
                workers=settings.workers, backend=settings.backend,
                space=prepared.space.source, count=settings.count.value,
            )  # fmt: skip
        store.commit()
        backend, specs = make_backend(settings, task.path)
        scheduler = Scheduler(
            settings=SchedulerSettings(
                budget_seconds=settings.budget_seconds,
                max_trials=settings.max_trials,
                trial_timeout=settings.trial_timeout,
                kill_grace=settings.kill_grace,
                seed=settings.seed,
                context=context,
                fail_fast=settings.fail_fast,
                diagnosis=settings.diagnosis,
                count=settings.count,
            ),
            slot_specs=specs,
            backend=backend,
            searcher=searcher,
            store=store,
            run_dir=prepared.run_dir,
            view=view,
            clock_offset=clock_offset,
            ledger=Ledger.from_rows(previous, task.mode, settings.count),
            retries=retries,
            diagnoser_factory=make_diagnoser_factory(
                prepared.config, settings, objective=task.objective, mode=task.mode
            ),
            avoider=Avoider(
                prepared.space, avoid_settings(prepared.config.get("avoid", {})),
                seed=settings.seed,
            ) if settings.avoid_bad else None,
        )  # fmt: skip
        if scheduler.avoider is not None:  # what earlier runs and this one before taught it
            scheduler.avoider.learn(prepared.avoid_examples)
            scheduler.avoider.learn(outcomes(previous, store.verdicts()))
        return scheduler.run()
    finally:
        store.close()


def _retell(searcher: Any, rows: list[TrialRow], count: CountRule) -> None:
    """Tell a resumed run's searcher what it was told before: the same rule, the same values."""
    for row in rows:
        state = TrialState(row.state)
        if state in RANKED:
            searcher.tell(row.params, count.pick(row.value, row.best_value))
        elif state is TrialState.FAILED:
            searcher.tell(row.params, None)
