"""The ``Trial`` protocol tasks are typed with: the runner's trial satisfies it (for mypy and at
run time), and the training loops call ``batch_loss`` only on a trial that has it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from multiprocessing import shared_memory

import pytest
import torch
from bttackler.tasks._splits import Split
from bttackler.tasks._training import fit_classifier

from bttackler.core.ring import RingWriter, create_ring, shm_name
from bttackler.trialside import protocol
from bttackler.trialside.trial import Trial


def as_task_trial(trial: protocol.Trial) -> protocol.Trial:
    """mypy checks the call below: the runner's Trial must be assignable to the protocol."""
    return trial


@pytest.fixture
def ring() -> Iterator[shared_memory.SharedMemory]:
    shm = create_ring(shm_name("protocol", os.getpid() % 1000), 16)
    yield shm
    shm.close()
    shm.unlink()


def test_the_runners_trial_satisfies_the_protocol(ring: shared_memory.SharedMemory) -> None:
    assert ring.buf is not None
    trial = Trial(1, {"lr": 0.1}, writer=RingWriter(ring.buf), options={"epochs": "2"})
    assert as_task_trial(trial) is trial
    assert isinstance(trial, protocol.Trial)
    assert isinstance(trial, protocol.Reporter) and isinstance(trial, protocol.BatchLossReporter)


class ReportOnly:
    """A stand-in as a benchmark passes one: nothing but ``report``."""

    def __init__(self) -> None:
        self.epochs: list[int] = []

    def report(self, epoch: int, **metrics: float) -> None:
        self.epochs.append(epoch)


class WithBatchLoss(ReportOnly):
    def __init__(self) -> None:
        super().__init__()
        self.losses: list[float] = []

    def batch_loss(self, loss: float) -> None:
        self.losses.append(loss)


def test_a_stand_in_needs_only_report() -> None:
    assert isinstance(ReportOnly(), protocol.Reporter)
    assert not isinstance(ReportOnly(), protocol.BatchLossReporter)
    assert not isinstance(ReportOnly(), protocol.Trial)
    assert isinstance(WithBatchLoss(), protocol.BatchLossReporter)


@pytest.mark.parametrize("stand_in", [ReportOnly, WithBatchLoss])
def test_fit_classifier_feeds_batch_loss_only_when_the_trial_takes_it(
    stand_in: type[ReportOnly],
) -> None:
    torch.manual_seed(0)
    data = Split(torch.randn(20, 4), torch.randint(0, 3, (20,)))
    model = torch.nn.Linear(4, 3)
    trial = stand_in()
    fit_classifier(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        data,
        data,
        trial,
        batch_size=8,
        epochs=2,
        prepare=lambda x, training: x,
        generator=torch.Generator().manual_seed(0),
    )
    assert trial.epochs == [0, 1]
    if isinstance(trial, WithBatchLoss):
        assert len(trial.losses) == 6  # 3 batches of 20 samples, 2 epochs
        assert all(loss > 0 for loss in trial.losses)
