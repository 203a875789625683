"""Where the training loss started and how far it fell: the pace indicators' second signal."""

from __future__ import annotations

import math

import pytest

from bttackler.core.history import EarlyEvidence, EpochRecord, TrialHistory
from bttackler.diagnosis.indicators._progress import clearly_falling, loss_drop, loss_start


def history(
    *losses: float, chance: float = math.nan, first_batches: float = math.nan
) -> TrialHistory:
    epochs = tuple(EpochRecord(e, {"train_loss": v}) for e, v in enumerate(losses))
    early = EarlyEvidence(0, 12, 1, math.nan, "", -1, 12, first_batches, math.nan, 4)
    return TrialHistory(1, {}, 10, epochs, chance_loss=chance, early=early)


def test_the_start_is_the_chance_level_else_the_highest_known_loss() -> None:
    assert loss_start(history(2.0, chance=math.log(10))) == math.log(10)
    # exploded in its first batches, back at chance: not learning
    assert loss_start(history(259.0, 2.49, first_batches=1350.0, chance=math.log(10))) == math.log(
        10
    )
    assert not clearly_falling(history(259.0, 2.49, first_batches=1350.0, chance=math.log(10)), 0.1)
    assert loss_start(history(4000.0, first_batches=28000.0)) == 28000.0  # raw regression targets
    assert loss_start(history(5000.0)) == 5000.0  # epoch 1 alone
    assert loss_start(history()) is None


def test_loss_drop_is_a_share_of_the_start() -> None:
    assert loss_drop(history(3000.0, 1500.0)) == pytest.approx(0.5)
    assert loss_drop(history(2.0, 2.2)) == pytest.approx(-0.1)
    assert loss_drop(history(2.0, math.nan)) is None
    assert clearly_falling(history(2.3, 1.9, chance=math.log(10)), 0.1)
    assert not clearly_falling(history(2.3, 2.2, chance=math.log(10)), 0.1)
    assert not clearly_falling(history(), 0.1)
