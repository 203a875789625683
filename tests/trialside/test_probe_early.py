"""The probe's one provisional record inside epoch 1 (``"early"``), and its way through the
ring and the monitor to the history the early rules judge."""

from __future__ import annotations

import math
import os

import pytest
import torch
from torch import nn

from bttackler.core.history import EarlyEvidence
from bttackler.core.ring import Kind, RingReader, RingWriter, create_ring, shm_name
from bttackler.runtime.monitor import Assembler, EarlySeen
from bttackler.trialside.probe import Probe


class Recorder:
    def __init__(self) -> None:
        self.records: list[tuple[str, int, str, list[float]]] = []

    def __call__(self, kind: str, index: int, name: str, values) -> None:  # type: ignore[no-untyped-def]
        self.records.append((kind, index, name, list(values)))

    def early(self) -> list[tuple[str, int, str, list[float]]]:
        return [r for r in self.records if r[0] == "early"]


def dead_model() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        model[2].bias.fill_(-100.0)  # the second ReLU is dead on every input
    return model


def train(probe: Probe, model: nn.Module, batches: int, loss_of=lambda i: 2.3) -> None:  # type: ignore[no-untyped-def]
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for i in range(batches):
        opt.zero_grad()
        model(torch.randn(16, 4)).pow(2).mean().backward()
        opt.step()
        probe.batch_loss(loss_of(i))


def test_the_record_is_written_once_after_the_first_batches() -> None:
    model, rec = dead_model(), Recorder()
    probe = Probe(model, rec, stats_every=5, overhead_budget=None, early_batches=12)
    train(probe, model, 11, loss_of=lambda i: 3.0 - 0.1 * i)
    assert rec.early() == []  # batch 12 has not begun
    train(probe, model, 3)
    ((_, index, name, values),) = rec.early()
    e = EarlyEvidence.from_values(0, index, name, values)
    assert (e.batches, e.sampled, e.losses, e.window) == (12, 3, 12, 4)  # batches 1, 6, 11
    assert (name, index) == ("3", 3) and e.dead_ratio == 1.0  # the dead ReLU
    # the first 4 losses 3.0..2.7, the last 4: 2.2, 2.1, 2.0, then 2.3
    assert e.loss_first == pytest.approx(2.85) and e.loss_last == pytest.approx(2.15)
    probe.flush(0)
    train(probe, model, 20)
    probe.flush(1)
    assert len(rec.early()) == 1


def test_an_epoch_shorter_than_the_window_writes_it_at_its_end_before_its_statistics() -> None:
    model, rec = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), Recorder()
    probe = Probe(model, rec, overhead_budget=None)
    train(probe, model, 5)
    probe.flush(0)
    kinds = [r[0] for r in rec.records]
    assert kinds[0] == "early" and len(rec.early()) == 1
    e = EarlyEvidence.from_values(0, rec.early()[0][1], rec.early()[0][2], rec.early()[0][3])
    assert (e.batches, e.sampled, e.losses, e.window) == (5, 1, 5, 1)
    assert e.dead_ratio < 0.9  # a live ReLU


def test_without_batch_losses_or_activations_the_record_says_nan() -> None:
    model, rec = nn.Sequential(nn.Linear(4, 2)), Recorder()
    probe = Probe(model, rec, overhead_budget=None, early_batches=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(4, 4)).sum().backward()
        opt.step()
    ((_, index, name, values),) = rec.early()
    e = EarlyEvidence.from_values(0, index, name, values)
    assert math.isnan(e.dead_ratio) and index == -1 and e.losses == 0
    assert math.isnan(e.loss_first) and math.isnan(e.loss_last)
    assert probe._early is None  # written: nothing more is kept
    assert Probe(model, rec, early_batches=None)._early is None


@pytest.fixture
def ring():
    shm = create_ring(shm_name("early", os.getpid() % 1000), 16)
    yield shm
    shm.close()
    shm.unlink()


def test_the_record_becomes_an_event_with_the_history_inside_epoch_1(ring) -> None:
    writer, reader = RingWriter(ring.buf), RingReader(ring.buf)
    assembler = Assembler(0, clock=lambda t: t)
    assembler.expect(5, {}, 20, chance_loss=math.log(10))
    e = EarlyEvidence(0, 12, 2, 1.0, "acts.3", 7, 12, 2.30, 2.29, 4)
    writer.write(Kind.EARLY, 5, index=7, name="acts.3", values=e.to_values())
    (event,) = [assembler.feed(r) for r in reader.read()]
    assert isinstance(event, EarlySeen) and event.event == e
    assert event.history.early == e and event.history.current_epoch() == 1
    writer.write(Kind.EPOCH, 5, epoch=0, values=[0])
    (closed,) = [assembler.feed(r) for r in reader.read()]
    assert closed.history.early == e and closed.history.current_epoch() == 1  # type: ignore[union-attr]
