"""``bttackler dashboard``: a local web page over runs' stores (finished or running)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from bttackler.cli.app import cli
from bttackler.cli.options import ANALYSIS_COUNT_HELP, analysis_count, count_option

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@cli.command()
@click.argument("targets", nargs=-1, type=click.Path(path_type=Path))
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="TCP port (0: any free port; the line printed says which).")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to serve on (not loopback: open to the network).")  # fmt: skip
@count_option(ANALYSIS_COUNT_HELP)
def dashboard(targets: tuple[Path, ...], port: int, host: str, count: str | None) -> None:
    """Serve a live web page over RESULTS_DIR (every run in it) or the given RUNs.

    The page lists the runs (task, method, budget, progress, state); a run's trials
    (sortable, filterable) with the top-10 mean over time, trials over time and terminations
    per indicator; several runs overlaid; and a trial's losses and objective per epoch with
    its verdict, its mean |gradient| per layer, adjacent-layer gradient ratios with the
    EAG/ERG bounds and activation inactive ratios with the LAR threshold. It updates while a
    run is going. Stores are opened read-only: the dashboard never blocks nor changes a run.

    \b
    Examples:
      bttackler dashboard                      # the runs under ./results
      bttackler dashboard results/digits-tpe-20261125-142000 --port 8081
      bttackler dashboard results/base results/btt
    """
    from bttackler.analysis.dashboard.server import start

    paths = list(targets) or [Path("results")]
    server = start(paths, host, port, analysis_count(count))
    if not is_loopback(host):
        click.echo(
            f"warning: --host {host} serves every run's parameters and results to anyone who "
            "can reach this machine, without authentication",
            err=True,
        )
    bound_host, bound_port = server.server_address[:2]
    shown = bound_host.decode() if isinstance(bound_host, bytes) else str(bound_host)
    shown = "127.0.0.1" if shown in ("0.0.0.0", "") else shown
    shown = f"[{shown}]" if ":" in shown else shown
    runs = len(server.registry.scan())
    where = ", ".join(str(p) for p in paths)
    click.echo(f"dashboard: http://{shown}:{bound_port}/  ({runs} run(s) from {where}; "
               "Ctrl-C stops)")  # fmt: skip
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        click.echo("dashboard stopped")
    finally:
        server.server_close()
