"""The commands that analyse finished runs: ``report``, ``replay`` and ``compare``."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bttackler.cli.app import cli
from bttackler.cli.options import (
    ANALYSIS_COUNT_HELP,
    analysis_count,
    config_from_flags,
    count_option,
)
from bttackler.core.errors import BttacklerError
from bttackler.core.jsonsafe import dumps
from bttackler.core.verdict import plural


@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the tables and every figure's data.")
@count_option(ANALYSIS_COUNT_HELP)
@click.option("--trial", "trial_ids", type=int, multiple=True, metavar="N",
              help="Instead: write trial N's figures (curves with the verdict, per-layer "
              "statistics with the bounds) as PNG into the run (repeatable).")  # fmt: skip
def report(
    runs: tuple[str, ...], as_json: bool, count: str | None, trial_ids: tuple[int, ...]
) -> None:
    """Write report.md (tables and figures) into the first run's directory.

    The first run is the baseline the others are compared with (Top10HR, TSBA, increase
    ratios); with one run the report shows that run's own numbers. Every trial counts with
    its last value unless --count best says its best epoch's. With --trial N, writes that
    trial's figures instead (the dashboard's trial page, as PNG), reading the store read-only.

    \b
    Examples:
      bttackler report results/digits-tpe-base results/digits-tpe-btt
      bttackler report results/digits-tpe-base --json --count best
      bttackler report results/digits-tpe-base --trial 12
    """
    from bttackler.analysis import report as report_mod
    from bttackler.analysis.compare import load_arms

    if trial_ids:
        _trial_figures(runs, trial_ids, as_json, analysis_count(count))
        return

    arms = load_arms(runs)
    out_dir = Path(runs[0].split(",")[0])
    doc = report_mod.write(arms, out_dir, analysis_count(count))
    if as_json:
        click.echo(dumps(doc))
        return
    for w in doc["warnings"]:
        click.echo(f"warning: {w}")
    click.echo(f"report: {doc['report']} (figures: {out_dir}; {report_mod.count_label(doc)})")


def _trial_figures(
    runs: tuple[str, ...], trial_ids: tuple[int, ...], as_json: bool, count: Any
) -> None:
    from bttackler.analysis.dashboard import data, figures

    if len(runs) != 1 or "," in runs[0]:
        raise BttacklerError("--trial takes one run")
    run_dir = Path(runs[0])
    if not data.is_run(run_dir):
        raise BttacklerError(f"{run_dir} is not a bttackler run (no experiment.db)")
    docs = [data.trial_doc(run_dir, n, count) for n in trial_ids]  # every trial exists first
    if as_json:
        click.echo(dumps(docs[0] if len(docs) == 1 else docs))
        return
    for doc in docs:
        paths = figures.draw(doc, run_dir)
        click.echo(f"trial {doc['trial']['id']}: " + ", ".join(str(p) for p in paths))


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="Indicator thresholds (TOML) over the run's own config.toml.")  # fmt: skip
@click.option("--indicators", help="Comma-separated indicators to replay, e.g. ERG,NMG.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@count_option("The value that ranks the final top 10: each trial's last reported or its best "
              "epoch's.  [default: last]")  # fmt: skip
def replay(
    run_dir: str, config_file: str | None, indicators: str | None, as_json: bool,
    count: str | None,
) -> None:  # fmt: skip
    """Re-diagnose a recorded run with other indicator settings, without training.

    Prints per indicator (alone, then all together) how many trials it would claim and at
    which epoch, the training time that would have been saved, and which trials of the final
    top 10 it would have killed (false alarms). The top 10 ranks trials by their last value
    unless --count best says their best epoch's.

    \b
    Examples:
      bttackler replay results/digits-tpe-base
      bttackler replay results/digits-tpe-base --config my-thresholds.toml --indicators ERG,LAR
    """
    from bttackler.analysis.replay import run_replay
    from bttackler.diagnosis.indicators import INDICATORS

    names = [n.strip() for n in indicators.split(",") if n.strip()] if indicators else None
    if indicators is not None and not names:
        raise BttacklerError("--indicators expects names like ERG,NMG")
    if names:  # built-in names in any case (erg is ERG); custom ones as written
        names = [n.upper() if n.upper() in INDICATORS else n for n in names]
    rule = analysis_count(count)
    try:
        doc = run_replay(
            Path(run_dir), Path(config_file) if config_file else None, names, count=rule
        )
    except BttacklerError as exc:  # name the flag the user typed, not the config key
        if names and str(exc).startswith("indicators.enabled:"):
            raise BttacklerError("--indicators:" + str(exc)[len("indicators.enabled:") :]) from exc
        raise
    if as_json:
        click.echo(dumps(doc))
        return
    table = Table(
        title=f"replay of {doc['run']}: {plural(doc['replayed_trials'], 'trial')} with records"
        f" (guard {'on' if doc['guard'] else 'off'}); final top 10 ({rule.label}): {doc['top10']}"
    )
    for col in ("indicator", "trials claimed", "at epoch (trials)", "time saved",
                "false alarms (top 10)"):  # fmt: skip
        table.add_column(col, overflow="fold")
    for r in doc["indicators"]:
        epochs = ", ".join(f"{e}: {n}" for e, n in r["epochs"].items()) or "-"
        alarms = ", ".join(map(str, r["false_alarms"])) or "-"
        if r["benign_in_top10"]:
            alarms += f" (benign: {', '.join(map(str, r['benign_in_top10']))})"
        table.add_row(r["indicator"], str(r["claimed"]), epochs, f"{r['saved_seconds']:.1f}s",
                      alarms)  # fmt: skip
    Console().print(table)
    if doc["live"]:
        live = ", ".join(f"{c['trial_id']}:{c['indicator']}@{c['epoch']}" for c in doc["live"])
        click.echo(f"live verdicts acted on (trial:indicator@epoch): {live}")


@cli.command()
@click.argument("runs", nargs=-1, type=click.Path(file_okay=False))
@click.option("--task", help="Run the arms on this task (instead of comparing existing RUNS).")
@click.option("--space", type=click.Path(dir_okay=False),
              help="Search space YAML/JSON for every arm (default: the task's own).")  # fmt: skip
@click.option("--method", help="HPO method: random, tpe, gp, smac or grid.")
@click.option("--budget", help="Wall-clock budget of every arm: 90s, 10m, 6h (a bare number "
              "is seconds).")  # fmt: skip
@click.option("--arms", default="baseline,bttackler,lce,msr,bttackler+msr,asha,bttackler+asha",
              show_default=True, help="Arms to run, baseline first (also: hyperband, "
              "bttackler+hyperband, any arm +avoid for --avoid-bad; etr: lce for max, msr "
              "for min).")  # fmt: skip
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs per arm; repeat r uses seed S+r in every arm.")  # fmt: skip
@click.option("--workers", type=click.IntRange(min=1), help="CPU worker slots per run.")
@click.option("--seed", type=click.IntRange(min=0), help="Seed of the first repeat.")
@click.option("--max-trials", type=click.IntRange(min=1), help="Stop each run after N trials.")
@click.option("--results-dir", type=click.Path(file_okay=False),
              help="Where the arms' run directories are written.  [default: results]")  # fmt: skip
@click.option("--name", help="Prefix of the run names (NAME-ARM[-rR]).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="A bttackler.toml overriding the defaults.")  # fmt: skip
@click.option("--task-opt", "task_opts", multiple=True, metavar="KEY=VALUE",
              help="Task knob (repeatable).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--plain/--live", default=True, help="Plain line log while the arms run.")
@count_option(
    "The value every trial of every arm counts with: its last reported (the paper's "
    "rule, whatever stopped it) or its best epoch's. With --task the arms' searchers "
    "are told it too.  [default: last; with --task: the config's [run] count]"
)
def compare(runs: tuple[str, ...], as_json: bool, **flags: Any) -> None:
    """Compare runs (baseline first) with the paper's Tables 2-5, or run the arms first.

    A RUN may be several directories joined by commas: the repeats of one arm. With --task,
    the arms run first (same seed and budget each), and report.md and the figures are
    written into the baseline's first run, as `bttackler report` would. Every trial counts
    with its last value unless --count best says its best epoch's.

    \b
    Examples:
      bttackler compare results/base results/btt results/msr
      bttackler compare --task digits --method tpe --budget 10m --arms baseline,bttackler,msr
    """
    from bttackler.analysis import compare as compare_mod
    from bttackler.analysis import report as report_mod
    from bttackler.core.config import run_settings
    from bttackler.runtime.arms import run_arms

    run_flags = ("task", "space", "method", "budget", "workers", "seed", "max_trials",
                 "results_dir", "name", "config_file", "task_opts")  # fmt: skip
    if runs:
        given = [k for k in run_flags if flags.get(k)]
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise BttacklerError(f"{flag} runs new arms; give either RUNS or --task, not both")
        if len(runs) < 2:
            raise BttacklerError("compare needs at least two runs (baseline first)")
        arms = compare_mod.load_arms(runs)
        count = analysis_count(flags["count"])
    else:
        if not flags["task"]:
            raise BttacklerError("give runs to compare, or --task (and --method, --budget)")
        config = config_from_flags({k: v for k, v in flags.items() if k != "name"})
        count = run_settings(config).count  # the rule the arms' searchers are told by
        # With --json, stdout carries the document only: the runs' logs go to stderr.
        with contextlib.redirect_stdout(sys.stderr if as_json else sys.stdout):
            dirs = run_arms(
                config,
                arms=_arm_names(flags["arms"]),
                repeats=flags["repeats"],
                name=flags["name"] or _default_name(flags),
                plain=flags["plain"] or as_json,
            )
        arms = {arm: [_load(p) for p in paths] for arm, paths in dirs.items()}
    # Arms it ran itself get their report.md and figures in the baseline's first run.
    doc = (report_mod.build(arms, count) if runs
           else report_mod.write(arms, _baseline_dir(arms), count))  # fmt: skip
    if as_json:
        click.echo(dumps(doc))
        return
    compare_mod.print_tables(doc)
    if not runs:
        click.echo(f"report: {doc['report']} (figures: {_baseline_dir(arms)})")


def _baseline_dir(arms: Any) -> Path:
    """The baseline arm's first run directory."""
    return Path(next(iter(arms.values()))[0].path)


def _load(path: Path) -> Any:
    from bttackler.analysis.metrics import load_run

    return load_run(path)


def _arm_names(text: str) -> list[str]:
    from bttackler.runtime.arms import ALIASES, ARMS

    names = [a.strip() for a in text.split(",") if a.strip()]
    unknown = [a for a in names if a.removesuffix("+avoid") not in ARMS and a not in ALIASES]
    if unknown:
        raise BttacklerError(f"--arms: unknown arm {unknown[0]!r} (known: {', '.join(ARMS)})")
    if len(set(names)) != len(names) or len(names) < 2:
        raise BttacklerError("--arms needs at least two different arms, baseline first")
    return names


def _default_name(flags: dict[str, Any]) -> str:
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{Path(flags['task']).stem}-{flags['method'] or 'tpe'}-cmp-{stamp}"
