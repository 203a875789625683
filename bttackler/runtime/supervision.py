"""Slot supervision: a run's worker slots started, watched and stopped.

The supervisor starts the backend's slots and waits for them, hands out the free ones, kills a
slot's trial (once: the first reason wins), and on every tick watches for what a slot cannot
say itself: its worker died, a kill whose end never came back (a lost worker or node), a
trial past its timeout. A lost slot is replaced and its trial handed back as a
:class:`SlotLoss` for the scheduler to record. How a trial's exit reads (finished, failed
and why) is :func:`exit_outcome`, a pure function.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from bttackler.core.errors import BttacklerError
from bttackler.core.trial_state import TrialState
from bttackler.runtime.backends.base import Backend, SlotHandle
from bttackler.runtime.monitor import TrialExited
from bttackler.runtime.snapshot import SlotView
from bttackler.runtime.worker import SlotSpec

KILL_CONFIRM = 5.0  # seconds after SIGKILL by which a killed trial's end must have arrived
SLOT_WAIT_WARNING = 60.0  # seconds a replaced slot may wait for its worker before a warning

_SIGNAL_HINTS = {
    signal.SIGKILL: "killed by SIGKILL (out of memory? the kernel's OOM killer sends it)",
    signal.SIGSEGV: "crashed with SIGSEGV (segmentation fault)",
    signal.SIGABRT: "aborted (SIGABRT)",
    signal.SIGBUS: "crashed with SIGBUS",
    signal.SIGFPE: "crashed with SIGFPE",
}


@dataclass(frozen=True)
class SlotLoss:
    """A running trial whose slot was lost (its worker died, or its kill never confirmed):
    how it ended as far as the slot knows. ``INTERRUPTED`` (a lost Ray node) asks for a
    re-run."""

    trial_id: int
    state: TrialState
    reason: str


def loss_outcome(loss: SlotLoss, rerun: bool) -> tuple[TrialState, str, bool]:
    """How a lost trial is recorded, and whether it runs again: a lost Ray node interrupts
    it, and it runs once more; a re-run lost again failed (not run a third time)."""
    if loss.state is not TrialState.INTERRUPTED:
        return loss.state, loss.reason, False
    if rerun:
        return TrialState.FAILED, f"{loss.reason}; it was a re-run already", False
    return loss.state, loss.reason, True


def exit_outcome(
    event: TrialExited,
    kill_reason: tuple[TrialState, str] | None,
    *,
    objective: str,
    reported: set[str],
    has_value: bool,
) -> tuple[TrialState, str | None]:
    """How a trial that exited ended: as it was being stopped, if it was; finished when it
    exited cleanly having reported ``objective``; else failed, with the reason a user needs
    (what it reported instead, the signal and what it usually means, the exception)."""
    if kill_reason is not None:
        return kill_reason
    if event.exit_code == 0:
        if not has_value:
            said = ", ".join(sorted(reported)) or "nothing"
            return TrialState.FAILED, f"ended without reporting {objective} (it reported: {said})"
        return TrialState.FINISHED, None
    if event.signal:
        number = signal.Signals(event.signal)
        return TrialState.FAILED, _SIGNAL_HINTS.get(number, f"killed by signal {number.name}")
    if event.error:
        return TrialState.FAILED, f"raised {event.error}"
    return TrialState.FAILED, f"exited with code {event.exit_code}"


class SlotSupervisor:
    """The run's slots: started, handed out, killed, watched and replaced (module docstring).

    ``warn`` says a line once per run (a slot waiting a minute for its worker)."""

    def __init__(
        self,
        backend: Backend,
        specs: list[SlotSpec],
        *,
        kill_grace: float,
        trial_timeout: float | None,
        ready_timeout: float,
        warn: Callable[[str], None],
    ) -> None:
        self.backend = backend
        self._specs = specs
        self.kill_grace = kill_grace
        self.trial_timeout = trial_timeout
        self.ready_timeout = ready_timeout
        self._warn = warn
        self._warned_waiting = False
        self.slots: list[SlotHandle] = []

    # ------------------------------------------------------------------ start and stop
    def start(self, interrupted: Callable[[], bool]) -> None:
        """Start every slot and wait until each said hello (a clear error if one cannot)."""
        self.slots = self.backend.start(self._specs)
        deadline = time.monotonic() + self.ready_timeout
        while not all(slot.ready for slot in self.slots):
            if interrupted():
                raise KeyboardInterrupt
            for slot in self.slots:
                error = slot.poll_ready()
                if error:
                    raise BttacklerError(f"worker slot {slot.index} could not start: {error}")
                if not slot.ready and not slot.alive():
                    raise BttacklerError(f"worker slot {slot.index} exited while starting")
            if time.monotonic() > deadline:
                waiting = [
                    f"slot {slot.index} {self.backend.waiting(slot) or 'still starting'}"
                    for slot in self.slots
                    if not slot.ready
                ]
                raise BttacklerError(f"worker slots did not start in time: {'; '.join(waiting)}")
            time.sleep(0.02)

    def close(self) -> None:
        self.backend.close(self.slots)

    # ------------------------------------------------------------------ what the scheduler asks
    def free(self) -> list[SlotHandle]:
        """The slots ready for a trial, by index."""
        return [slot for slot in self.slots if slot.ready and not slot.busy]

    def holding(self, index: int, trial_id: int) -> SlotHandle | None:
        """Slot ``index`` if it still runs ``trial_id`` (not a later trial)."""
        if not 0 <= index < len(self.slots):
            return None
        slot = self.slots[index]
        return slot if slot.trial_id == trial_id else None

    def at_epoch(self, index: int, trial_id: int, epoch: int) -> None:
        """The live view's epoch of the slot running ``trial_id``."""
        slot = self.holding(index, trial_id)
        if slot is not None:
            slot.epoch = epoch

    def kill(self, index: int, trial_id: int, state: TrialState, reason: str, now: float) -> bool:
        """Stop ``trial_id`` on slot ``index`` (to be recorded as ``state``, ``reason``).
        False when it is no longer there or is being stopped already (the first reason wins)."""
        slot = self.holding(index, trial_id)
        if slot is None or slot.kill_requested_at is not None:
            return False
        slot.kill(state, reason, now, self.kill_grace)
        return True

    def kill_all(self, state: TrialState, reason: str, now: float) -> None:
        for slot in self.slots:
            slot.kill(state, reason, now, self.kill_grace)

    def release(self, index: int, trial_id: int) -> tuple[TrialState, str] | None:
        """``trial_id`` exited: free its slot; the reason it was being stopped with, if any."""
        slot = self.holding(index, trial_id)
        if slot is None:
            return None
        reason = slot.kill_reason
        slot.finish()
        return reason

    def views(self) -> tuple[SlotView, ...]:
        return tuple(SlotView(s.index, s.trial_id, s.epoch, s.started_at) for s in self.slots)

    def nodes(self) -> dict[int, str | None]:
        return {slot.index: slot.node for slot in self.slots}

    # ------------------------------------------------------------------ watching
    def check(self, now: float, drain: Callable[[], None]) -> list[SlotLoss]:
        """One look at every slot. A dead worker or an unconfirmed kill loses the slot's
        trial (returned) and replaces the slot; a trial past its timeout is killed as failed.
        ``drain`` takes in the monitor's pending events first when a worker died: its last
        trial's end may be among them."""
        losses: list[SlotLoss] = []
        for slot in list(self.slots):
            if not slot.ready:
                error = slot.poll_ready()  # a replacement worker saying hello
                if error:
                    raise BttacklerError(f"worker slot {slot.index} could not restart: {error}")
                self._warn_if_waiting(slot)
                continue
            if not slot.alive():  # the worker itself died (not just a trial it ran)
                drain()
                if slot.trial_id is not None:
                    state, reason = slot.kill_reason or slot.death()
                    losses.append(SlotLoss(slot.trial_id, state, reason))
                self._replace(slot)
                continue
            if slot.trial_id is None:
                continue
            if (
                slot.kill_requested_at is not None
                and slot.kill_reason is not None
                and now - slot.kill_requested_at > self.kill_grace + KILL_CONFIRM
            ):  # killed, but its end never reported (a lost worker or node): record the kill
                losses.append(SlotLoss(slot.trial_id, *slot.kill_reason))
                self._replace(slot)
                continue
            if (
                self.trial_timeout is not None
                and slot.started_at is not None
                and now - slot.started_at > self.trial_timeout
            ):
                reason = f"timed out after {self.trial_timeout:g} s"
                slot.kill(TrialState.FAILED, reason, now, self.kill_grace)
        return losses

    def _replace(self, slot: SlotHandle) -> None:
        slot.finish()
        self.slots[self.slots.index(slot)] = self.backend.replace(slot)

    def _warn_if_waiting(self, slot: SlotHandle) -> None:
        """Once per run: a slot that has waited a minute for its worker (a Ray actor the
        cluster has no room for) is said, not left silent."""
        if self._warned_waiting or time.monotonic() - slot.created < SLOT_WAIT_WARNING:
            return
        self._warned_waiting = True
        self._warn(f"slot {slot.index} {self.backend.waiting(slot) or 'is still starting'}")
