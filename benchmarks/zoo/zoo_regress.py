"""Zoo task: one regression recipe of ``recipes.py`` per trial (diabetes with raw targets; no
CHANCE_LOSS, so SAC does not judge)."""

from zoo_lib import MAX_EPOCHS, OPTIONS, epochs, run

OBJECTIVE = "val_mse"
MODE = "min"
DESCRIPTION = "the zoo's regression recipes (benchmarks/zoo/recipes.py)"
__all__ = ["MAX_EPOCHS", "MODE", "OBJECTIVE", "OPTIONS", "epochs", "run"]
