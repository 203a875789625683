"""The ``bttackler`` command group and its entry point: one-line errors and exit codes."""

from __future__ import annotations

import sys

import click

from bttackler.core.errors import BttacklerError

EXIT_FAILED = 1  # the run ran, but every trial failed (a broken task)
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="bttackler")
def cli() -> None:
    """Hyperparameter search that diagnoses every trial while it trains and stops bad ones.

    \b
    Quick start (offline, real data):
      bttackler run --task digits --method tpe --budget 5m
      bttackler trials results/<run>
    """


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors, exit 2 for usage errors, 130 for Ctrl-C."""
    try:
        cli.main(args=argv, prog_name="bttackler", standalone_mode=False)
    except BttacklerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(EXIT_USAGE)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
