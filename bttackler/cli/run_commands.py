"""The commands that run searches and list what they made: ``run``, ``trials``, ``tasks``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bttackler.cli.app import EXIT_FAILED, EXIT_INTERRUPTED, cli
from bttackler.cli.options import config_from_flags, count_option
from bttackler.cli.output import keep_running_if_the_pipe_closes, line, print_rows
from bttackler.core.errors import BttacklerError
from bttackler.core.jsonsafe import dumps
from bttackler.core.objective import CountRule, Mode
from bttackler.core.trial_state import RANKED
from bttackler.core.verdict import plural

if TYPE_CHECKING:
    from bttackler.runtime.snapshot import RunResult


@cli.command()
@click.option("--task", help="Built-in task name (see `bttackler tasks`) or path to a .py file.")
@click.option("--space", type=click.Path(dir_okay=False), help="Search space YAML/JSON "
              "(NNI format). Default: the task's DEFAULT_SPACE.")  # fmt: skip
@click.option("--method", help="HPO method: random, tpe, gp, smac or grid (every combination "
              "once; continuous ranges need a q or grid_points).  [default: tpe]")  # fmt: skip
@click.option(
    "--grid-shuffle",
    is_flag=True,
    default=None,
    help="With --method grid: a seeded order instead of the space file's.",
)
@click.option("--budget", help="Wall-clock budget: 90s, 10m, 6h, 1h30m (a bare number is "
              "seconds).  [default: 10m]")  # fmt: skip
@click.option("--max-trials", type=click.IntRange(min=1), help="Stop after N trials ended.")
@click.option("--workers", type=click.IntRange(min=1), help="Trials at once: CPU worker "
              "slots here (one per GPU when GPUs are visible), or Ray actors with --backend "
              "ray.  [default: 1]")  # fmt: skip
@click.option("--seed", type=click.IntRange(min=0), help="Seed of the method and trials.")
@click.option("--name", help="Run name: results go to RESULTS_DIR/NAME.")
@click.option("--results-dir", type=click.Path(file_okay=False),
              help="Where the run's directory NAME is written.  [default: results]")  # fmt: skip
@click.option("--resume", "resume", type=click.Path(file_okay=False),
              help="Continue the run in this directory (after a crash or Ctrl-C).")  # fmt: skip
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="A bttackler.toml overriding the defaults.")  # fmt: skip
@click.option("--task-opt", "task_opts", multiple=True, metavar="KEY=VALUE",
              help="Task knob, e.g. --task-opt epochs=5 (repeatable).")  # fmt: skip
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where datasets are found.")
@click.option("--trial-timeout", help="Kill a trial running longer than this (e.g. 30m).")
@click.option("--no-diagnosis", is_flag=True, help="Trace and record, but never terminate.")
@click.option("--no-trace", is_flag=True, help="Record no per-layer statistics at all.")
@click.option("--avoid-bad/--no-avoid-bad", default=None,
              help="Learn from the verdicts which configurations train badly and skip a "
              "proposal predicted bad (P >= [avoid] threshold, default 0.5; a share of them "
              "still runs). Skipped ones are listed as 'skipped' with why.  "
              "[default: off]")  # fmt: skip
@click.option("--avoid-learn-from", "avoid_learn_from", multiple=True, metavar="RUN",
              help="An earlier run of the same search space (repeatable) whose outcomes the "
              "model of trouble starts from, so it can skip from the first proposal; implies "
              "--avoid-bad.")  # fmt: skip
@click.option("--etr", type=click.Choice(["lce", "msr", "asha", "hyperband"],
              case_sensitive=False), help="Add an accuracy-based early-termination rule "
              "beside the indicators: the paper's baselines (learning-curve extrapolation, "
              "the median stop rule) or successive halving (ASHA, Hyperband, as Optuna's "
              "pruners); with --no-diagnosis it is the only rule that stops trials.")  # fmt: skip
@count_option("The value every trial counts with, told to the method and ranked: its last "
              "reported (the paper's rule, whatever stopped it) or its best epoch's.  "
              "[default: last]")  # fmt: skip
@click.option("--fail-fast", type=click.IntRange(min=0), metavar="N",
              help="Stop the run (exit 1) when its first N trials all failed: a broken task "
              "must not burn the budget. 0: never.  [default: 3]")  # fmt: skip
@click.option("--backend", type=click.Choice(["local", "ray"], case_sensitive=False),
              help="Where trials run: worker processes on this machine, or Ray actors on a "
              "Ray cluster (pip install 'bttackler[ray]').  [default: local]")  # fmt: skip
@click.option("--ray-address", metavar="ADDRESS",
              help="With --backend ray: the cluster to join (host:port of `ray start --head`, "
              "or auto). Default: $RAY_ADDRESS, else a Ray started on this machine.")  # fmt: skip
@click.option("--cpus-per-trial", type=click.IntRange(min=1), metavar="N",
              help="With --backend ray on a cluster without GPUs: CPUs each trial's actor "
              "asks for (with GPUs, each trial gets one GPU).  [default: 1]")  # fmt: skip
@click.option("--plain", is_flag=True, help="Plain line log instead of the live view.")
def run(**flags: Any) -> None:
    """Run a hyperparameter search.

    \b
    Examples:
      bttackler run --task digits --method tpe --budget 5m
      bttackler run --task my_task.py --space my_space.yaml --method smac --budget 2h --workers 2
      bttackler run --resume results/digits-tpe-20261125-142000
      bttackler run --task digits --backend ray --ray-address 10.0.0.5:6379 --workers 8
    """
    from bttackler.runtime import experiment
    from bttackler.runtime.progress import make_view

    keep_running_if_the_pipe_closes()

    if flags["resume"]:
        others = [k for k, v in flags.items() if v and k not in ("resume", "plain")]
        if others:
            flag = "--" + others[0].replace("_", "-")
            raise BttacklerError(f"--resume continues a run with its own settings; drop {flag}")
        prepared = experiment.prepare_resume(Path(flags["resume"]))
    else:
        prepared = experiment.prepare_new(config_from_flags(flags))

    settings = prepared.settings
    title = f"{prepared.task.name} · {settings.method} · {prepared.run_dir.name}"
    view = make_view(title, force_plain=flags["plain"])
    verb = "resuming" if prepared.resumed else "run"
    print(
        f"{verb} {prepared.run_dir} · task {prepared.task.name}"
        f" ({prepared.task.objective}, {prepared.task.mode}) · method {settings.method}"
        f" · budget {settings.budget_seconds:g}s · workers {settings.workers}"
        + (f" on ray ({settings.ray_address or 'local'})" if settings.backend == "ray" else "")
        + f" · diagnosis {'on' if settings.diagnosis else 'off'}",
        flush=True,
    )
    try:
        result = experiment.execute(prepared, view)
    finally:
        view.close()
    _print_summary(prepared.run_dir, prepared.task, settings.count, result)
    if result.outcome == "interrupted":
        sys.exit(EXIT_INTERRUPTED)
    if result.outcome == "failed":
        click.echo(f"error: {result.failure}", err=True)
        sys.exit(EXIT_FAILED)


def _print_summary(run_dir: Path, task: Any, count: CountRule, result: RunResult) -> None:
    from bttackler.runtime.progress import status_line, summary_rows

    rows = _ranked_rows(run_dir, task.mode, count)
    print_rows(*summary_rows(rows, task.objective, count))  # plain rows in a pipe or a log
    line(status_line(result.snapshot))
    counts = result.snapshot.counts.by_indicator
    if counts:
        line(
            "terminations by indicator: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        )
    for warning in result.warnings:
        line(warning)
    line(f"results: {run_dir}")
    line(f"list the trials: bttackler trials {run_dir}")


def _ranked_rows(run_dir: Path, mode: Mode, count: CountRule) -> list[dict[str, Any]]:
    """The run's finished and terminated trials, best first by the value ``count`` picks
    (stored as each row's ``counted``)."""
    from bttackler.core.store import ReadOnlyStore

    store = ReadOnlyStore.open(run_dir)
    try:
        rows = [t.to_json() for t in store.trials()]
    finally:
        store.close()
    ranked = []
    for r in rows:
        r["counted"] = count.pick(r["value"], r["best_value"])
        if r["counted"] is not None and r["state"] in RANKED:
            ranked.append(r)
    ranked.sort(key=lambda r: mode.sign * r["counted"])
    return ranked


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def trials(run_dir: str, as_json: bool) -> None:
    """List every trial of a run: id, params, state, reason, value, times.

    \b
    Example:
      bttackler trials results/digits-tpe-20261125-142000 --json
    """
    from bttackler.core.store import ReadOnlyStore, Store
    from bttackler.runtime.progress import params_text

    path = Path(run_dir)
    name = path.resolve().name
    if not (path / Store.FILENAME).is_file():
        raise BttacklerError(f"{path} is not a bttackler run (no {Store.FILENAME})")
    store = ReadOnlyStore.open(path)
    try:
        meta = store.meta()
        rows = [t.to_json() for t in store.trials()]
        errors = store.rule_errors()
    finally:
        store.close()
    for row in rows:  # a rule that raised on the trial judged nothing there: say which
        row["rule_errors"] = errors.get(row["id"], [])
    if as_json:
        doc = {
            "run": name,
            "task": meta.get("task"),
            "method": meta.get("method"),
            "objective": meta.get("objective"),
            "mode": meta.get("mode"),
            "elapsed": meta.get("elapsed"),
            "lost_records": meta.get("lost_records", 0),
            "trials": rows,
        }
        click.echo(dumps(doc))
        return
    print_rows(
        f"{name}: {plural(len(rows), 'trial')} ({meta.get('objective')}, {meta.get('mode')})",
        ("id", "state", "value", "epochs", "start", "end", "reason", "params"),
        [
            (
                str(r["id"]),
                r["state"],
                "-" if r["value"] is None else f"{r['value']:.4g}",
                str(r["epochs"]),
                _fmt_time(r["started"]),
                _fmt_time(r["ended"]),
                r["reason"] or "",
                params_text(r["params"], limit=10_000),
            )
            for r in rows
        ],
    )


def _fmt_time(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tasks(as_json: bool) -> None:
    """List the built-in tasks with their objective and default search space."""
    from bttackler.core.resources import display_path
    from bttackler.core.task import builtin_task_names, load_task

    rows: list[dict[str, Any]] = []
    for name in builtin_task_names():
        spec, module = load_task(name)
        space = spec.default_space
        rows.append(
            {
                "name": name,
                "objective": spec.objective,
                "mode": spec.mode,
                "max_epochs": spec.max_epochs,
                "space": display_path(space) if space else None,
                "options": sorted(getattr(module, "OPTIONS", {}) or {}),
                "description": spec.description,
                "data": spec.data_source,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    print_rows(
        "built-in tasks (or pass --task path/to/your_task.py)",
        ("task", "objective", "epochs", "options", "space", "description", "data"),
        [
            (r["name"], f"{r['objective']} ({r['mode']})", str(r["max_epochs"]),
             ", ".join(r["options"]) or "-", r["space"] or "-", r["description"], r["data"])
            for r in rows
        ],
        whole=("space",),
    )  # fmt: skip
