"""The driver's side of a Ray slot's ring (RemoteRing) with a stand-in for Ray: what it does
with a lost reply, a failed or hung drain call, and a worker that died."""

from __future__ import annotations

import time
import types
from typing import Any

import numpy as np
import pytest

from bttackler.core.ring import RECORD_DTYPE
from bttackler.runtime.backends import ray_cluster
from bttackler.runtime.backends.ray_cluster import RemoteRing


class RayError(Exception):
    pass


class RayActorError(RayError):
    pass


class ActorUnavailableError(RayActorError):
    pass


class Ref:
    def __init__(self, outcome: Any, ready: bool = True) -> None:
        self.outcome, self.ready = outcome, ready

    def future(self) -> Any:
        """As ObjectRef.future(): the driver reads only whether the call has answered."""
        return types.SimpleNamespace(done=lambda: self.ready)


class FakeRay:
    exceptions = types.SimpleNamespace(
        RayError=RayError, RayActorError=RayActorError,
        ActorUnavailableError=ActorUnavailableError,
    )  # fmt: skip

    @staticmethod
    def wait(refs: list[Ref], timeout: float) -> tuple[list[Ref], list[Ref]]:
        return [r for r in refs if r.ready], [r for r in refs if not r.ready]

    @staticmethod
    def get(ref: Ref) -> Any:
        if isinstance(ref.outcome, BaseException):
            raise ref.outcome
        return ref.outcome


class FakeHost:
    """Answers each drain call with the next scripted outcome; records the acks it got."""

    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = outcomes
        self.acks: list[int] = []
        self.drain = types.SimpleNamespace(remote=self._drain)

    def _drain(self, wait: float, received: int) -> Ref:
        self.acks.append(received)
        outcome = self.outcomes.pop(0) if self.outcomes else batch([])
        return outcome if isinstance(outcome, Ref) else Ref(outcome)


def batch(seqs: list[int], alive: bool = True) -> tuple:
    rows = np.zeros(len(seqs), dtype=RECORD_DTYPE)
    rows["seq"] = seqs
    return rows, 0, {}, alive, time.time()  # the node's clock agrees with ours


def ring_with(outcomes: list[Any]) -> tuple[RemoteRing, FakeHost]:
    ring = RemoteRing(FakeRay())
    host = FakeHost(outcomes)
    ring.attach(host)
    ring.read_array()  # sends the first drain
    return ring, host


def test_a_batch_sent_again_after_a_lost_reply_is_read_once():
    ring, host = ring_with([batch([1, 2]), batch([1, 2, 3])])
    assert ring.read_array()["seq"].tolist() == [1, 2]
    assert ring.read_array()["seq"].tolist() == [3]
    assert host.acks == [0, 2, 3]  # each call tells the actor what arrived


def test_a_failed_drain_marks_the_slot_dead_and_never_raises():
    ring, _ = ring_with([RayError("drain raised on the node")])
    assert len(ring.read_array()) == 0
    assert ring.dead == "RayError"


def test_an_unreachable_actor_gets_the_grace_period_then_is_dead(monkeypatch):
    monkeypatch.setattr(ray_cluster, "UNAVAILABLE_GRACE", 0.0)
    ring, _ = ring_with([ActorUnavailableError(), ActorUnavailableError()])
    ring.read_array()
    assert ring.dead is None  # a first failure may be a passing blip
    ring.read_array()
    assert ring.dead is not None and "unreachable" in ring.dead


def test_a_drain_call_that_never_answers_marks_the_slot_dead(monkeypatch):
    monkeypatch.setattr(ray_cluster, "UNAVAILABLE_GRACE", -1.0)
    ring, _ = ring_with([Ref(None, ready=False)])
    ring.read_array()
    assert ring.dead is not None and "no answer" in ring.dead


def test_a_dead_worker_is_told_only_after_the_batch_it_came_with():
    ring, _ = ring_with([batch([1], alive=False)])
    assert ring.read_array()["seq"].tolist() == [1]
    assert ring.worker_alive  # the batch's events (its EXIT) are handled first
    ring.read_array()
    assert not ring.worker_alive


@pytest.mark.parametrize("skewed", [False, True])
def test_a_node_clock_far_off_is_corrected_on_the_records(skewed):
    rows, lost, logs, alive, _ = batch([1])
    rows["time"] = 1000.0
    node_clock = time.time() - (30.0 if skewed else 0.0)
    ring, _ = ring_with([(rows, lost, logs, alive, node_clock)])
    got = ring.read_array()
    assert bool(got["time"][0] > 1020.0) == skewed
