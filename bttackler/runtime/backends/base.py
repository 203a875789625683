"""What the scheduler needs of a place to run trials: slots and the rings their records come
through. Two backends provide them: ``local`` (worker processes on this machine) and ``ray``
(one Ray actor per slot, anywhere on a cluster).

A slot runs one trial at a time. The scheduler drives it from its main thread only; the
monitor thread reads the backend's rings. ``SlotHandle`` keeps the bookkeeping both backends
share (which trial, since when, why it is being killed); a backend adds how orders travel.
"""

from __future__ import annotations

import time
from typing import Protocol

from bttackler.core.trial_state import TrialState
from bttackler.runtime.monitor import RecordSource
from bttackler.runtime.worker import SlotSpec, TrialOrder


class SlotHandle:
    """The scheduler's handle of one slot: the trial it runs and how that trial is stopped."""

    def __init__(self, spec: SlotSpec) -> None:
        self.spec = spec
        self.index = spec.index
        self.trial_id: int | None = None
        self.started_at: float | None = None  # run-clock seconds
        self.kill_requested_at: float | None = None
        self.kill_reason: tuple[TrialState, str] | None = None  # (state, reason) to record
        self.epoch: int | None = None
        self.ready = False
        self.node: str | None = None  # where the slot runs, when the backend knows it
        self.created = time.monotonic()

    @property
    def busy(self) -> bool:
        return self.trial_id is not None

    def start(self, order: TrialOrder, now: float) -> None:
        self.trial_id = order.trial_id
        self.started_at = now
        self.kill_requested_at = None
        self.kill_reason = None
        self.epoch = None
        self._send_run(order)

    def kill(self, state: TrialState, reason: str, now: float, grace: float) -> None:
        """SIGTERM the running trial (SIGKILL after ``grace`` seconds); first reason wins."""
        if self.trial_id is None or self.kill_requested_at is not None:
            return
        self.kill_requested_at = now
        self.kill_reason = (state, reason)
        self._send_kill(self.trial_id, grace)

    def finish(self) -> None:
        self.trial_id = None
        self.started_at = None
        self.kill_requested_at = None
        self.kill_reason = None
        self.epoch = None

    # ---- what a backend provides
    def poll_ready(self) -> str | None:
        """Notice the slot's hello. Returns an error text if it could not load the task."""
        raise NotImplementedError

    def alive(self) -> bool:
        raise NotImplementedError

    def death(self) -> tuple[TrialState, str]:
        """How the trial of a slot that is no longer alive ended, and why."""
        return TrialState.FAILED, "worker process died"

    def request_stop(self) -> None:
        raise NotImplementedError

    def shutdown(self, timeout: float = 2.0) -> None:
        raise NotImplementedError

    def _send_run(self, order: TrialOrder) -> None:
        raise NotImplementedError

    def _send_kill(self, trial_id: int, grace: float) -> None:
        raise NotImplementedError


class Backend(Protocol):
    """Starts slots, replaces a dead one, and gives the monitor one record source per slot
    index (the same object for the run's whole life, whatever slot serves that index)."""

    name: str

    @property
    def sources(self) -> list[RecordSource]: ...

    def start(self, specs: list[SlotSpec]) -> list[SlotHandle]: ...

    def replace(self, slot: SlotHandle) -> SlotHandle: ...

    def waiting(self, slot: SlotHandle) -> str | None:
        """Why a slot that is not ready yet is still waiting (e.g. for cluster resources)."""
        ...

    def close(self, slots: list[SlotHandle]) -> None: ...
