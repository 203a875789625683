"""The commands that learn from verdicts: ``explain``."""

from __future__ import annotations

from pathlib import Path

import click

from bttackler.cli.app import cli
from bttackler.core.jsonsafe import dumps


@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def explain(runs: tuple[str, ...], as_json: bool) -> None:
    """What causes a run's bad trials, and which parameters matter.

    A trial is bad when a problem indicator judged it (acted on, or only recorded as in a
    --no-diagnosis run; NMG and the accuracy rules are not problems) or when it failed.
    A shallow decision tree over the configurations (log scale for log parameters, one
    column per choice) gives the regions where most trials were bad, as rules with their
    support, overall and per indicator; fANOVA (through Optuna) ranks the parameters for the
    objective and for a bad trial. Several runs of one task and space are read together.

    \b
    Examples:
      bttackler explain results/digits-tpe-20261205-101500
      bttackler explain results/base-s0 results/base-s1 --json
    """
    from bttackler.analysis.learn import explain as explain_runs
    from bttackler.analysis.learn import lines
    from bttackler.analysis.metrics import load_run

    doc = explain_runs([load_run(Path(r)) for r in runs])
    if as_json:
        click.echo(dumps(doc))
        return
    for line in lines(doc):
        click.echo(line)
