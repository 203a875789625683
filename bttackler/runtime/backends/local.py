"""The local backend: worker processes on this machine, each with a shared-memory ring.

Each slot's worker is a spawned process (``runtime.worker``) that forks one child per
trial. The scheduler's process creates every ring and unlinks it at the end; a replaced
worker attaches to the ring of its slot, so the monitor keeps one reader per slot for the
whole run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from multiprocessing.shared_memory import SharedMemory

from bttackler.core.ring import RingReader, create_ring, shm_name
from bttackler.runtime.backends.base import SlotHandle
from bttackler.runtime.monitor import RecordSource
from bttackler.runtime.worker import SlotSpec, TrialOrder, worker_main


class LocalSlot(SlotHandle):
    """A slot whose worker is a child process of this one, commanded over a pipe."""

    def __init__(self, spec: SlotSpec) -> None:
        super().__init__(spec)
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self.process = ctx.Process(
            target=worker_main, args=(spec, child_conn), name=f"bttackler-slot-{spec.index}"
        )
        self.process.daemon = True
        self.process.start()
        child_conn.close()

    def poll_ready(self) -> str | None:
        while self._conn.poll():
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                return "worker process exited while starting"
            if message[0] == "ready":
                self.ready = True
            elif message[0] == "error":
                return str(message[1])
        return None

    def _send_run(self, order: TrialOrder) -> None:
        self._conn.send(("run", order))

    def _send_kill(self, trial_id: int, grace: float) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(("kill", trial_id, grace))

    def alive(self) -> bool:
        return self.process.is_alive()

    def request_stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conn.send(("stop",))

    def shutdown(self, timeout: float = 2.0) -> None:
        self.request_stop()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1.0)
        with contextlib.suppress(OSError):
            self._conn.close()


class LocalBackend:
    """Slots on this machine; rings in this machine's shared memory."""

    name = "local"

    def __init__(self, ring_capacity: int) -> None:
        self.ring_capacity = ring_capacity
        self._shms: list[SharedMemory] = []
        self._readers: list[RecordSource] = []

    @property
    def sources(self) -> list[RecordSource]:
        return self._readers

    def start(self, specs: list[SlotSpec]) -> list[SlotHandle]:
        tag = f"{os.getpid()}x{int(time.time() * 1000) % 100000}"
        slots: list[SlotHandle] = []
        for spec in specs:
            shm = create_ring(shm_name(tag, spec.index), self.ring_capacity)
            self._shms.append(shm)
            self._readers.append(RingReader(shm.buf))  # type: ignore[arg-type]
            slots.append(LocalSlot(SlotSpec(**{**spec.__dict__, "shm_name": shm.name})))
        return slots

    def replace(self, slot: SlotHandle) -> SlotHandle:
        slot.shutdown(timeout=0.5)
        return LocalSlot(slot.spec)  # the same ring: the monitor's reader carries on

    def waiting(self, slot: SlotHandle) -> str | None:
        return None

    def close(self, slots: list[SlotHandle]) -> None:
        for slot in slots:
            slot.request_stop()  # all at once: workers exit in parallel
        for slot in slots:
            slot.shutdown()
        for shm in self._shms:
            with contextlib.suppress(Exception):
                shm.close()
            with contextlib.suppress(FileNotFoundError):
                shm.unlink()
