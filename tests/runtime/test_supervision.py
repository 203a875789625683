"""Slot supervision through its public methods, on a backend of stand-in slots (no process):
a dead worker and an unconfirmed kill lose their trial and replace the slot, a trial past its
timeout is killed as failed, the first kill reason wins, and a trial's exit reads right."""

from __future__ import annotations

import signal

import pytest

from bttackler.core.errors import BttacklerError
from bttackler.core.trial_state import TrialState
from bttackler.runtime.backends.base import SlotHandle
from bttackler.runtime.monitor import TrialExited
from bttackler.runtime.supervision import (
    KILL_CONFIRM,
    SlotLoss,
    SlotSupervisor,
    exit_outcome,
    loss_outcome,
)
from bttackler.runtime.worker import SlotSpec, TrialOrder


class StandInSlot(SlotHandle):
    def __init__(self, spec: SlotSpec, death: tuple[TrialState, str] | None = None) -> None:
        super().__init__(spec)
        self.ready = True
        self.living = True
        self.kills: list[tuple[int, float]] = []
        self._death = death

    def poll_ready(self) -> str | None:
        return None

    def alive(self) -> bool:
        return self.living

    def death(self) -> tuple[TrialState, str]:
        return self._death or super().death()

    def _send_run(self, order: TrialOrder) -> None:
        pass

    def _send_kill(self, trial_id: int, grace: float) -> None:
        self.kills.append((trial_id, grace))


class StandInBackend:
    name = "stand-in"
    sources: list = []

    def __init__(self, death: tuple[TrialState, str] | None = None) -> None:
        self.death = death
        self.replaced: list[int] = []

    def start(self, specs):
        return [StandInSlot(spec, self.death) for spec in specs]

    def replace(self, slot):
        self.replaced.append(slot.index)
        return StandInSlot(slot.spec, self.death)

    def waiting(self, slot):
        return None

    def close(self, slots):
        pass


def spec(index: int) -> SlotSpec:
    return SlotSpec(index=index, shm_name="", task_path="", device="cpu",
                    cuda_visible_devices="", threads=1, parent_pid=0)  # fmt: skip


def supervisor(death=None, timeout=None) -> tuple[SlotSupervisor, StandInBackend, list[str]]:
    said: list[str] = []
    backend = StandInBackend(death)
    sup = SlotSupervisor(backend, [spec(0), spec(1)], kill_grace=1.0, trial_timeout=timeout,
                         ready_timeout=5.0, warn=said.append)  # fmt: skip
    sup.start(interrupted=lambda: False)
    return sup, backend, said


def run_on(sup: SlotSupervisor, index: int, trial_id: int, now: float = 0.0) -> SlotHandle:
    slot = sup.slots[index]
    slot.start(TrialOrder(trial_id=trial_id, params={}, seed=0, log_path=""), now)
    return slot


def test_free_slots_are_the_ready_idle_ones():
    sup, _, _ = supervisor()
    run_on(sup, 0, 7)
    assert [s.index for s in sup.free()] == [1]
    assert sup.holding(0, 7) is sup.slots[0]
    assert sup.holding(0, 8) is None and sup.holding(5, 7) is None


def test_a_dead_worker_loses_its_trial_and_the_slot_is_replaced():
    sup, backend, _ = supervisor()
    slot = run_on(sup, 1, 3)
    slot.living = False  # type: ignore[attr-defined]
    drained = []
    losses = sup.check(10.0, drain=lambda: drained.append(True))
    assert drained == [True]  # its last events are taken in first
    assert losses == [SlotLoss(3, TrialState.FAILED, "worker process died")]
    assert backend.replaced == [1] and sup.slots[1] is not slot and not sup.slots[1].busy


def test_a_dead_worker_whose_trial_exited_meanwhile_loses_nothing():
    sup, backend, _ = supervisor()
    slot = run_on(sup, 0, 3)
    slot.living = False  # type: ignore[attr-defined]
    losses = sup.check(1.0, drain=lambda: sup.release(0, 3))  # the exit was in the queue
    assert losses == [] and backend.replaced == [0]


def test_a_lost_node_says_interrupted_and_a_killed_trial_keeps_its_stop_reason():
    sup, _, _ = supervisor(death=(TrialState.INTERRUPTED, "Ray node lost"))
    run_on(sup, 0, 1).living = False  # type: ignore[attr-defined]
    being_stopped = run_on(sup, 1, 2)
    assert sup.kill(1, 2, TrialState.TERMINATED, "ERG: exploding", 0.0)
    being_stopped.living = False  # type: ignore[attr-defined]
    losses = sup.check(1.0, drain=lambda: None)
    assert losses == [
        SlotLoss(1, TrialState.INTERRUPTED, "Ray node lost"),
        SlotLoss(2, TrialState.TERMINATED, "ERG: exploding"),
    ]


def test_a_kill_whose_end_never_comes_is_recorded_after_the_grace_and_confirmation():
    sup, backend, _ = supervisor()
    run_on(sup, 0, 4)
    assert sup.kill(0, 4, TrialState.STOPPED, "budget exhausted", now=10.0)
    assert sup.check(10.0 + 1.0 + KILL_CONFIRM - 0.1, drain=lambda: None) == []
    losses = sup.check(10.0 + 1.0 + KILL_CONFIRM + 0.1, drain=lambda: None)
    assert losses == [SlotLoss(4, TrialState.STOPPED, "budget exhausted")]
    assert backend.replaced == [0]


def test_the_first_kill_reason_wins_and_release_returns_it():
    sup, _, _ = supervisor()
    slot = run_on(sup, 0, 5)
    assert sup.kill(0, 5, TrialState.TERMINATED, "ERG: exploding", 1.0)
    assert not sup.kill(0, 5, TrialState.STOPPED, "budget exhausted", 2.0)
    assert slot.kills == [(5, 1.0)]  # type: ignore[attr-defined]
    assert sup.release(0, 5) == (TrialState.TERMINATED, "ERG: exploding")
    assert not slot.busy and sup.release(0, 5) is None


def test_a_trial_past_its_timeout_is_killed_as_failed():
    sup, _, _ = supervisor(timeout=30.0)
    slot = run_on(sup, 0, 6, now=0.0)
    assert sup.check(29.0, drain=lambda: None) == [] and slot.kill_reason is None
    sup.check(31.0, drain=lambda: None)
    assert slot.kill_reason == (TrialState.FAILED, "timed out after 30 s")


def test_a_slot_that_cannot_start_is_a_clear_error():
    class Broken(StandInBackend):
        def start(self, specs):
            slots = super().start(specs)
            slots[1].ready = False
            slots[1].poll_ready = lambda: "task.py: No module named 'torchvision'"  # type: ignore[method-assign]
            return slots

    sup = SlotSupervisor(Broken(), [spec(0), spec(1)], kill_grace=1.0, trial_timeout=None,
                         ready_timeout=5.0, warn=print)  # fmt: skip
    with pytest.raises(BttacklerError, match="worker slot 1 could not start: task.py"):
        sup.start(interrupted=lambda: False)


def exited(code=0, sig=0, error=None, kill=False) -> TrialExited:
    return TrialExited(trial_id=1, slot=0, exit_code=code, signal=sig, kill_requested=kill,
                       error=error, time=1.0)  # fmt: skip


OOM = "killed by SIGKILL (out of memory? the kernel's OOM killer sends it)"
USR1 = "killed by signal SIGUSR1"


@pytest.mark.parametrize(
    ("event", "has_value", "expected"),
    [
        (exited(), True, (TrialState.FINISHED, None)),
        (exited(), False, (TrialState.FAILED, "ended without reporting acc (it reported: loss)")),
        (exited(code=-9, sig=signal.SIGKILL), True, (TrialState.FAILED, OOM)),
        (exited(code=-10, sig=signal.SIGUSR1), True, (TrialState.FAILED, USR1)),
        (exited(code=1, error="ValueError: x"), True, (TrialState.FAILED, "raised ValueError: x")),
        (exited(code=3), True, (TrialState.FAILED, "exited with code 3")),
    ],
)  # fmt: skip
def test_how_an_exit_reads(event, has_value, expected):
    got = exit_outcome(event, None, objective="acc", reported={"loss"}, has_value=has_value)
    assert got == expected


def test_an_exit_while_being_stopped_reads_as_the_stop():
    stop = (TrialState.TERMINATED, "NaN: loss")
    got = exit_outcome(exited(code=-15, sig=signal.SIGTERM, kill=True), stop, objective="acc",
                       reported=set(), has_value=True)  # fmt: skip
    assert got == stop


def test_a_lost_node_reruns_a_trial_once_and_a_rerun_lost_again_fails():
    lost = SlotLoss(3, TrialState.INTERRUPTED, "Ray node lost")
    assert loss_outcome(lost, rerun=False) == (TrialState.INTERRUPTED, "Ray node lost", True)
    assert loss_outcome(lost, rerun=True) == (
        TrialState.FAILED, "Ray node lost; it was a re-run already", False,
    )  # fmt: skip
    died = SlotLoss(4, TrialState.FAILED, "worker process died")
    assert loss_outcome(died, rerun=False) == (TrialState.FAILED, "worker process died", False)
