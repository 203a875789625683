"""The command line: the ``bttackler`` group (:mod:`.app`), the commands that run and list
searches (:mod:`.run_commands`), those that analyse finished runs
(:mod:`.analysis_commands`), those that simulate searches from them
(:mod:`.simulation_commands`) and learn from their verdicts (:mod:`.learn_commands`), and the
one flags-to-configuration mapping (:mod:`.options`).

Where it runs: the main process. What it may import: every stage (it is the outermost layer);
heavy modules are imported inside the commands so that ``--help`` stays fast.
"""

from bttackler.cli import (  # noqa: F401  (registers the commands)
    analysis_commands,
    dashboard_commands,
    learn_commands,
    run_commands,
    simulation_commands,
)
from bttackler.cli.app import cli, main

__all__ = ["cli", "main"]
