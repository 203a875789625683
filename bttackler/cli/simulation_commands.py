"""The commands that simulate searches from recorded pools: ``simulate`` and ``calibrate``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bttackler.cli.app import cli
from bttackler.cli.options import ANALYSIS_COUNT_HELP, analysis_count, count_option
from bttackler.core.errors import BttacklerError
from bttackler.core.jsonsafe import dumps


def _search_options(
    *, methods: list[str], method_help: str, budget: str, budget_help: str, seeds: int,
    seeds_help: str, config_help: str,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:  # fmt: skip
    """The options both commands take to simulate searches: the method, budget, slots and
    seeds, a thresholds file and ``--json`` (each command its own defaults and words)."""
    options = [
        click.option("--method", default="random", show_default=True,
                     type=click.Choice(methods), help=method_help),
        click.option("--budget", default=budget, show_default=True, help=budget_help),
        click.option("--workers", default=2, show_default=True, type=int, help="Slots."),
        click.option("--seeds", default=seeds, show_default=True, type=int, help=seeds_help),
        click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     help=config_help),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable output."),
    ]  # fmt: skip

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@cli.command()
@click.argument("pools", nargs=-1, required=True, type=click.Path(file_okay=False))
@_search_options(
    methods=["random", "tpe", "gp", "smac", "grid"],
    method_help="The search method: random draws from the pool; the others run for real, "
    "each proposal mapped to the nearest pool configuration (grid: until it is exhausted).",
    budget="1h",
    budget_help="Simulated wall-clock budget of every search: 90s, 10m, 6h.",
    seeds=100,
    seeds_help="Searches per arm (the method's seed and the order).",
    config_help="Thresholds (TOML) over the defaults, as run --config.",
)
@click.option(
    "--arms",
    default="baseline,bttackler,lce,msr,bttackler+msr,asha,bttackler+asha",
    show_default=True,
    help="Comma-separated arms; the baseline is always simulated (it is the reference). "
    "Also: hyperband, bttackler+hyperband, bttackler+lce; any arm +avoid (with --avoid-bad).",
)
@click.option(
    "--kill-latency",
    default=None,
    type=float,
    help="Seconds from a verdict to its trial's end. Default: the median the pool's runs "
    "measured, or 0.01 when they killed nothing (benchmarks/kill_latency.py).",
)
@click.option(
    "--turnaround",
    default=None,
    type=float,
    help="Seconds from a trial's end to the next trial's start on its slot. Default: the "
    "median the pool's runs measured.",
)
@click.option(
    "--figure",
    type=click.Path(dir_okay=False),
    help="Also draw the best value so far against time per arm (median and "
    "interquartile band over the seeds) into this PNG file.",
)
@click.option("--avoid-learn-from", "avoid_learn_from", multiple=True, metavar="RUN",
              type=click.Path(file_okay=False), help="An earlier run of the pool's space "
              "(repeatable, not in the pool) the +avoid arms' model of trouble starts from, "
              "as run --avoid-learn-from.")  # fmt: skip
@click.option(
    "--pace",
    default=None,
    metavar="F[,G]",
    help="Multiply the pool's recorded times by F (0.9: the machine now runs 10% "
    "faster than when the pool was recorded); F,G: start-up (each trial's first "
    "epoch) by F, later epochs by G.",
)
@click.option(
    "--mapping",
    type=click.Choice(["nearest", "unused"]),
    default="nearest",
    show_default=True,
    help="How a model-based method's proposal becomes a pool configuration: the nearest one, "
    "even one that ran already (it runs again), or the nearest one that has not run yet while "
    "any is left (a real method's nearby proposals are new trials: a halving rule does not "
    "promote copies of one).",
)
@click.option(
    "--pace-of",
    "pace_of",
    multiple=True,
    metavar="RUN",
    type=click.Path(file_okay=False),
    help="Measure --pace from runs (repeatable): "
    "how long their epochs took against the pool's for the same configurations. "
    "A short baseline run just before a study tells the machine's pace now.",
)
@count_option(ANALYSIS_COUNT_HELP)
def simulate(
    pools: tuple[str, ...], method: str, arms: str, budget: str, workers: int, seeds: int,
    kill_latency: float | None, turnaround: float | None, config_file: str | None,
    figure: str | None, as_json: bool, count: str | None, avoid_learn_from: tuple[str, ...],
    pace: str | None, pace_of: tuple[str, ...], mapping: str,
) -> None:  # fmt: skip
    """Simulate many searches from recorded pools, every arm judged by the live rules.

    A pool is one or more recorded runs of one task whose trials ran to their end (record
    them with run --no-diagnosis: a baseline is a pool). Each seed runs every arm on the
    same draws; per arm it prints counted trials, Top10HR and TSBA against the baseline of
    the same seed as interquartile mean [bootstrap 95% interval], and kills per indicator.

    \b
    Examples:
      bttackler simulate results/base-s0 results/base-s1 --budget 1h --workers 2 --seeds 100
      bttackler simulate results/base --method tpe --arms bttackler,msr --budget 30m --json
    """
    from bttackler.analysis.simulation import simulate as run_simulation
    from bttackler.core.config import parse_duration
    from bttackler.runtime.searchers import make_searcher

    names = [a.strip() for a in arms.split(",") if a.strip()]
    doc = run_simulation(
        [Path(p) for p in pools], method=method, arms=names,
        budget=parse_duration(budget, what="--budget"), workers=workers, seeds=seeds,
        count=analysis_count(count).value, kill_latency=kill_latency, turnaround=turnaround,
        config_file=Path(config_file) if config_file else None, searchers=make_searcher,
        avoid_learn_from=[Path(p) for p in avoid_learn_from], pace=parse_pace(pace),
        pace_of=[Path(p) for p in pace_of], mapping=mapping,
    )  # fmt: skip
    if figure:
        from bttackler.analysis.simulation.summary import draw_best_so_far

        draw_best_so_far(doc, figure)
    if as_json:
        click.echo(dumps(doc))
        return
    table = Table(
        title=f"simulate {doc['method']}: {doc['seeds']} seeds x {doc['budget']:.0f} s x "
        f"{doc['workers']} workers on a pool of {doc['pool_trials']} trials; IQM [95% interval]"
    )
    for col in ("arm", "trials", "Top10HR %", "TSBA %", "reached", "bad started %", "skipped",
                "kills per run"):  # fmt: skip
        table.add_column(col, overflow="fold")
    for r in doc["arms"]:

        def text(x: dict[str, Any] | None) -> str:
            if not x or not x["n"]:
                return "-"
            return f"{x['iqm']:.1f} [{x['low']:.1f}, {x['high']:.1f}]"

        top = sorted(r["kills"].items(), key=lambda kv: -kv[1])
        kills = ", ".join(f"{k} {v:.0f}" for k, v in top[:4]) + (" …" if len(top) > 4 else "")
        reached = "-" if r["arm"] == "baseline" else f"{r['tsba_reached']}/{doc['seeds']}"
        skipped = f"{r['skipped']:.1f}" if r["skipped"] else "-"
        table.add_row(r["arm"], text(r["trials"]), text(r["top10hr"]), text(r["tsba"]),
                      reached, text(r["bad_started"]), skipped, kills or "-")  # fmt: skip
    Console(width=max(Console().width, 150)).print(table)  # 8 columns: never folded
    click.echo(pace_line(doc["pace"]))
    for w in doc["warnings"]:
        click.echo(f"warning: {w}")
    if figure:
        click.echo(f"figure: {figure}")


def parse_pace(text: str | None) -> tuple[float, float] | None:
    """``--pace F`` or ``--pace F,G`` as (start-up, epochs) factors, each > 0."""
    if text is None:
        return None
    try:
        factors = [float(x) for x in text.split(",")]
    except ValueError:
        factors = []
    if len(factors) not in (1, 2) or not all(f > 0 for f in factors):
        raise click.BadParameter(f"{text!r}: give F or F,G, factors > 0 (0.9, or 1.05,0.9)",
                                 param_hint="--pace")  # fmt: skip
    return (factors[0], factors[-1])


def pace_line(pace: dict[str, Any]) -> str:
    """How fast the simulation ran the pool's trials, in words."""
    measured = pace.get("measured")
    if measured:
        s, e = measured["startup"], measured["epochs"]
        return (f"pace of the pool's durations: start-up {s['factor']:.3f} [{s['low']:.3f}, "
                f"{s['high']:.3f}], epochs {e['factor']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"
                f", measured on {s['trials']} trials ({s['epochs'] + e['epochs']} epochs) of "
                f"{', '.join(pace['measured_from'])}")  # fmt: skip
    if (pace["startup"], pace["epochs"]) != (1.0, 1.0):
        return (f"pace of the pool's durations: start-up {pace['startup']:.3f}, epochs "
                f"{pace['epochs']:.3f} (--pace)")  # fmt: skip
    return "pace: as the pool was recorded (--pace-of RUN measures the machine's pace now)"


@cli.command()
@click.argument("pools", nargs=-1, required=True)
@click.option(
    "--out",
    default="thresholds.toml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The TOML file to write (run --config reads it); an existing file is not overwritten.",
)
@_search_options(
    methods=["random", "tpe", "gp", "smac"],
    method_help="As simulate.",
    budget="10m",
    budget_help="Simulated budget per search.",
    seeds=20,
    seeds_help="Simulated searches per arm, per evaluation.",
    config_help="The thresholds to start from (TOML over the defaults).",
)
def calibrate(
    pools: tuple[str, ...], out: str, method: str, budget: str, workers: int, seeds: int,
    config_file: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Choose indicator thresholds on recorded pools by simulated payoff.

    Each POOL is a recorded run of trials that ran to their end (commas join runs into one
    pool). A coordinate search picks, threshold by threshold, the value that raises the
    simulated Top10HR of the bttackler arm most while no trial of any pool's final top 10
    gets a problem verdict; with two pools or more each is held out once and reported with
    thresholds fitted on the others. Writes the chosen thresholds to --out.

    \b
    Examples:
      bttackler calibrate results/pools/digits-wide results/pools/diabetesmlp --out mine.toml
      bttackler run --task digits --config mine.toml
    """
    import tomli_w

    from bttackler.analysis.simulation.calibrate import Settings
    from bttackler.analysis.simulation.calibrate import calibrate as fit_thresholds
    from bttackler.analysis.simulation.pool import load_pool
    from bttackler.core.config import load_config, parse_duration
    from bttackler.runtime.searchers import make_searcher

    target = Path(out)
    if target.exists():
        raise BttacklerError(f"{target} exists: give another --out (nothing was written)")
    loaded = [load_pool([Path(p) for p in arg.split(",") if p]) for arg in pools]
    base = load_config(Path(config_file) if config_file else None)
    settings = Settings(method=method, seeds=seeds, workers=workers,
                        budget=parse_duration(budget, what="--budget"))  # fmt: skip
    doc = fit_thresholds(loaded, base, settings, searchers=make_searcher)
    header = (
        f"# bttackler calibrate: {', '.join(doc['pools'])}; {method}, {budget} x {workers} "
        f"workers, {seeds} seeds\n# simulated Top10HR {doc['top10hr_default']:.1f} -> "
        f"{doc['top10hr_fitted']:.1f}; top-10 trials a problem verdict stops "
        f"{doc['false_alarms_default']} -> {doc['false_alarms_fitted']}\n"
        "# check it on trainings of other kinds too: benchmarks/zoo_judge.py --config FILE\n"
    )
    target.write_text(header + tomli_w.dumps({"indicators": doc["overrides"]}))
    doc["out"] = str(target)
    if as_json:
        click.echo(dumps(doc))
        return
    click.echo(header.rstrip())
    for fold in doc["folds"]:
        click.echo(f"held out {fold['held_out']}: Top10HR {fold['top10hr_default']:.1f} -> "
                   f"{fold['top10hr_fitted']:.1f}, top-10 stopped "
                   f"{fold['false_alarms_default']} -> {fold['false_alarms_fitted']} "
                   f"(fitted on the others: {fold['overrides'] or 'no change'})")  # fmt: skip
    click.echo(f"thresholds: {doc['overrides'] or 'no change'} -> {target}")
