"""The epochs a trial trains with its task options drive the stages (``--task-opt epochs=N``)."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from bttackler.core.config import load_config
from bttackler.core.errors import BttacklerError
from bttackler.core.task import TaskSpec, load_task, with_planned_epochs
from bttackler.runtime.experiment import prepare_new

SPEC = TaskSpec("t", Path("t.py"), "val_acc", "max", 20, None)


def _module(**attrs: object) -> types.ModuleType:
    module = types.ModuleType("t")
    module.__dict__.update(attrs)
    return module


def test_a_task_without_epochs_trains_max_epochs() -> None:
    assert with_planned_epochs(SPEC, _module(), {"epochs": "3"}).max_epochs == 20


def test_the_task_says_how_many_epochs_its_options_make() -> None:
    module = _module(epochs=lambda options: int(options.get("epochs", 20)))
    assert with_planned_epochs(SPEC, module, {"epochs": "4"}).max_epochs == 4


@pytest.mark.parametrize("bad", [0, 21, 2.5, True, "4"])
def test_an_epoch_count_outside_the_cap_is_one_line(bad: object) -> None:
    with pytest.raises(BttacklerError, match=r"epochs\(\) must return an int in 1\.\.20"):
        with_planned_epochs(SPEC, _module(epochs=lambda options: bad), {})


def test_built_in_tasks_follow_the_epochs_option() -> None:
    spec, module = load_task("digits")
    assert with_planned_epochs(spec, module, {"epochs": "6"}).max_epochs == 6
    assert with_planned_epochs(spec, module, {}).max_epochs == spec.max_epochs


def test_a_run_with_fewer_epochs_is_staged_on_them(tmp_path: Path) -> None:
    config = load_config(None)
    config["run"].update(
        task="digits", results_dir=str(tmp_path), name="r", task_options={"epochs": "4"}
    )
    prepared = prepare_new(config)
    assert prepared.task.max_epochs == 4  # the monitor's histories and the store's meta use it


def test_chance_loss_comes_from_the_task_and_reaches_the_histories() -> None:
    import math

    from bttackler.runtime.monitor import Assembler

    spec, _ = load_task("digits")
    assert spec.chance_loss == pytest.approx(math.log(10))
    assembler = Assembler(0, clock=lambda wall: wall)
    assembler.expect(7, {"lr": 0.1}, 20, chance_loss=spec.chance_loss)
    assert assembler._trials[7].history().chance_loss == spec.chance_loss


def test_a_bad_chance_loss_is_one_line(tmp_path: Path) -> None:
    task = tmp_path / "t.py"
    task.write_text(
        "OBJECTIVE = 'acc'\nMODE = 'max'\nMAX_EPOCHS = 3\nCHANCE_LOSS = -1\n"
        "def run(params, trial):\n    pass\n"
    )
    with pytest.raises(BttacklerError, match="CHANCE_LOSS must be a positive number"):
        load_task(str(task))
