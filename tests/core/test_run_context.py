"""The run context: built from a task, stored as meta, read back the same; an older run's
meta without some keys reads as the defaults."""

from __future__ import annotations

import math
from pathlib import Path

from bttackler.core.objective import Mode
from bttackler.core.run_context import RunContext
from bttackler.core.task import TaskSpec


def test_a_tasks_context_round_trips_through_the_meta() -> None:
    task = TaskSpec(name="t", path=Path("t.py"), objective="val_loss", mode="min",
                    max_epochs=12, default_space=None, chance_loss=math.log(10))  # fmt: skip
    context = RunContext.from_task(task)
    assert context == RunContext("val_loss", Mode.MIN, 12, math.log(10))
    assert RunContext.from_meta(context.to_meta()) == context


def test_no_chance_loss_is_stored_as_null_and_read_as_nan() -> None:
    context = RunContext("acc", Mode.MAX, 5)
    meta = context.to_meta()
    assert meta == {"objective": "acc", "mode": "max", "max_epochs": 5, "chance_loss": None}
    assert math.isnan(RunContext.from_meta(meta).chance_loss)


def test_an_older_runs_meta_reads_as_the_defaults() -> None:
    old = RunContext.from_meta({"objective": "acc"})
    assert (old.mode, old.max_epochs, math.isnan(old.chance_loss)) == (Mode.MAX, 1, True)
