"""Zoo task: one classification recipe of ``recipes.py`` per trial (digits, Fashion-MNIST)."""

import math

from zoo_lib import MAX_EPOCHS, OPTIONS, epochs, run

OBJECTIVE = "val_acc"
MODE = "max"
CHANCE_LOSS = math.log(10)  # every classification dataset of the zoo has ten classes
DESCRIPTION = "the zoo's classification recipes (benchmarks/zoo/recipes.py)"
__all__ = ["CHANCE_LOSS", "MAX_EPOCHS", "MODE", "OBJECTIVE", "OPTIONS", "epochs", "run"]
