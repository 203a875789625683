"""The Ray backend: each slot is a Ray actor placed on some node of a cluster.

The actor (:class:`SlotHost`) does on its node what the local backend does on this machine:
it creates the slot's shared-memory ring there and starts the same worker process
(``runtime.worker``), which forks one child per trial. Trials write their records into that
node-local ring exactly as they do locally. The actor drains its ring and hands the records
over in batches: the driver keeps one ``drain`` call outstanding per slot, which returns as
soon as records are there (or after a short wait), so records travel in batches, never one
round trip per record. Lost records are counted as locally (ring overrun on the node).

The driver (this process) keeps the scheduler, the searcher, the store and the report, as
locally; the actor's trial logs travel back with the records into ``<run>/trials/``.

Ending: the worker process is a child of the actor with the parent-death signal set, and
every trial is a child of the worker with it set too; so when an actor ends - stopped, killed
with its node, or killed by Ray because the driver died - no trial process outlives it.
A node that is lost takes its slots' actors with it: their trials are recorded as
``interrupted`` and run again, and a new actor takes the slot wherever the cluster has room.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bttackler.core.ring import RECORD_DTYPE
from bttackler.core.trial_state import TrialState
from bttackler.runtime.backends.base import SlotHandle
from bttackler.runtime.backends.ray_connect import (
    cluster_shape,
    connect,
    disconnect,
    last_line,
    slot_shape,
)
from bttackler.runtime.backends.ray_node import SlotHost
from bttackler.runtime.monitor import RecordSource
from bttackler.runtime.worker import SlotSpec, TrialOrder

# seconds a drain call waits for records before returning an empty batch: each call is a
# round trip through Ray's processes, so an idle slot should not make many
DRAIN_WAIT = 0.25
UNAVAILABLE_GRACE = 5.0  # seconds an actor may stay unreachable before its slot is lost
CLOCK_SKEW = 1.0  # node clocks further off than this are corrected on the records' times


class RemoteRing:
    """The driver's record source of one slot index: batches from whichever actor serves the
    slot now. Read by the monitor thread only; re-attached by the scheduler's thread."""

    def __init__(self, ray: Any) -> None:
        self._ray = ray
        self._lock = threading.Lock()
        self._host: Any = None
        self._pending: Any = None
        self._pending_done: Any = None  # the pending drain's concurrent.futures.Future
        self._unavailable_since: float | None = None
        self._log_paths: dict[int, Path] = {}
        self.lost = 0
        self.dead: str | None = None  # why the actor is gone, once it is
        self.worker_alive = self._alive_next = True
        self._received = 0  # the highest sequence number received from the current actor
        self._sent_at = 0.0
        self._offset = math.inf
        self._empty = np.zeros(0, dtype=RECORD_DTYPE)

    def attach(self, host: Any) -> None:
        with self._lock:
            self._host, self._pending, self._received = host, None, 0
            self._unavailable_since, self.dead = None, None
            self.worker_alive = self._alive_next = True
            self._offset = math.inf  # receive minus node clock, smallest seen (transit)

    def log_to(self, trial_id: int, path: Path) -> None:
        """Where the trial's log goes on this machine (created now, as a local trial's is)."""
        self._log_paths[trial_id] = path
        with contextlib.suppress(OSError):
            path.touch()

    def read_array(self, limit: int | None = None) -> np.ndarray:
        with self._lock:
            # The worker's death is told one batch late: the events of the batch that came
            # with it (its last trial's EXIT, say) are queued for the scheduler by then.
            self.worker_alive = self._alive_next
            host = self._host
            if host is None or self.dead is not None:
                return self._empty
            now = time.monotonic()
            if self._pending is None:
                self._send(host, now)
                return self._empty
            # a Future's done() is a flag read; ray.wait is a call into Ray's core worker,
            # and this runs every few milliseconds per slot
            if not self._pending_done.done():
                if now - self._sent_at > UNAVAILABLE_GRACE + DRAIN_WAIT:
                    self.dead = f"no answer for {UNAVAILABLE_GRACE:g} s"  # a hung call
                return self._empty
            exceptions = self._ray.exceptions
            try:
                rows, lost, logs, alive, node_clock = self._ray.get(self._pending)
            except exceptions.ActorUnavailableError as exc:
                self._unavailable_since = self._unavailable_since or now
                if now - self._unavailable_since > UNAVAILABLE_GRACE:
                    self.dead = f"unreachable for {UNAVAILABLE_GRACE:g} s ({type(exc).__name__})"
                else:
                    self._send(host, now)  # perhaps a passing blip: the batch comes again
                return self._empty
            except exceptions.RayError as exc:  # the actor died, or its drain failed
                self.dead = type(exc).__name__
                return self._empty
            self._unavailable_since = None
            rows = rows[rows["seq"] > self._received]  # a batch sent again after a lost reply
            if len(rows):
                self._received = int(rows["seq"][-1])
            self._send(host, now)
            self._alive_next = bool(alive)
            self.lost += int(lost)
            self._write_logs(logs)
            self._offset = min(self._offset, time.time() - float(node_clock))
            if len(rows) and abs(self._offset) > CLOCK_SKEW:
                rows["time"] += self._offset  # a node whose clock is off: its records' times
        return rows

    def _send(self, host: Any, now: float) -> None:
        self._pending = host.drain.remote(DRAIN_WAIT, self._received)
        self._pending_done = self._pending.future()
        self._sent_at = now

    def _write_logs(self, logs: dict[int, bytes]) -> None:
        for trial_id, data in logs.items():
            path = self._log_paths.get(trial_id)
            if path is None:
                continue
            with contextlib.suppress(OSError), open(path, "ab") as log:
                log.write(data)


class RaySlot(SlotHandle):
    """The driver's handle of a slot served by a :class:`SlotHost` actor."""

    def __init__(self, spec: SlotSpec, backend: RayBackend) -> None:
        super().__init__(spec)
        self._ray = backend.ray
        self._backend = backend
        self.ring = backend.ring(spec.index)
        self._deadline = time.monotonic() + backend.start_timeout
        self._stopping: Any = None
        self._place()

    def _place(self) -> None:
        b = self._backend
        self.host = b.actor_class.options(**b.actor_options).remote(
            self.spec, b.task_source, b.ring_capacity
        )
        self._hello = self.host.hello.remote(b.start_timeout)
        self.ring.attach(self.host)

    def poll_ready(self) -> str | None:
        if self.ready:
            return None
        done, _ = self._ray.wait([self._hello], timeout=0)
        if not done:
            return None
        try:
            status, detail, node = self._ray.get(self._hello)
        except self._ray.exceptions.RayActorError as exc:
            if getattr(exc, "actor_init_failed", False):  # e.g. bttackler missing on the node
                return f"its Ray actor could not start: {last_line(exc)}"
            # Placed on a node that died meanwhile (Ray may not know it yet): place it again.
            if time.monotonic() > self._deadline:
                return f"its Ray actor kept dying while starting ({type(exc).__name__})"
            with contextlib.suppress(Exception):
                self._ray.kill(self.host)
            self._place()
            return None
        self.node = node
        if status != "ready":
            return str(detail)
        self.ready = True
        return None

    def _send_run(self, order: TrialOrder) -> None:
        self.ring.log_to(order.trial_id, Path(order.log_path))
        self.host.run.remote(order, self._backend.kill_grace)

    def _send_kill(self, trial_id: int, grace: float) -> None:
        self.host.kill.remote(trial_id, grace)

    def alive(self) -> bool:
        return self.ring.dead is None and self.ring.worker_alive

    def death(self) -> tuple[TrialState, str]:
        if self.ring.dead is not None:
            node = (self.node or "?")[:12]
            return TrialState.INTERRUPTED, f"its Ray node {node} was lost ({self.ring.dead})"
        return TrialState.FAILED, "worker process died"

    def request_stop(self) -> None:
        if self._stopping is None:
            with contextlib.suppress(Exception):
                self._stopping = self.host.stop.remote()

    def shutdown(self, timeout: float = 2.0) -> None:
        self.request_stop()
        with contextlib.suppress(Exception):
            self._ray.get(self._stopping, timeout=timeout)
        with contextlib.suppress(Exception):
            self._ray.kill(self.host)


class RayBackend:
    """Slots as Ray actors: one GPU each where the cluster has GPUs, else
    ``cpus_per_trial`` CPUs each, spread over the nodes."""

    name = "ray"

    def __init__(
        self,
        *,
        address: str | None,
        cpus_per_trial: int,
        ring_capacity: int,
        task_path: Path,
        use_gpus: bool = True,
        kill_grace: float = 0.5,
        start_timeout: float = 240.0,
    ) -> None:
        self.ray = connect(address)
        self.ring_capacity = ring_capacity
        self.kill_grace = kill_grace
        self.start_timeout = start_timeout
        self.task_source = task_path.read_text()
        self.cpus, self.gpus, self.cpus_per_gpu = cluster_shape(self.ray.nodes())
        if not use_gpus:  # --gpus none (gpus = "none")
            self.gpus = 0
        self.cpus_per_trial = cpus_per_trial
        if self.gpus:
            self.actor_options: dict[str, Any] = {"num_gpus": 1, "num_cpus": 0}
        else:
            self.actor_options = {"num_cpus": cpus_per_trial}
        self.actor_options.update(max_concurrency=4, max_restarts=0, scheduling_strategy="SPREAD")
        self.actor_class = self.ray.remote(SlotHost)
        self._rings: dict[int, RemoteRing] = {}

    def slot_specs(self, workers: int, common: dict[str, Any]) -> list[SlotSpec]:
        """``workers`` slots, refused at once if the cluster cannot hold them together."""
        device, threads = slot_shape(workers, self.cpus, self.gpus, self.cpus_per_trial)
        if device != "cpu":
            threads = self.cpus_per_gpu
        return [
            SlotSpec(index=i, device=device, cuda_visible_devices=None, threads=threads,
                     **common)
            for i in range(workers)
        ]  # fmt: skip

    def ring(self, index: int) -> RemoteRing:
        if index not in self._rings:
            self._rings[index] = RemoteRing(self.ray)
        return self._rings[index]

    @property
    def sources(self) -> list[RecordSource]:
        return [self._rings[i] for i in sorted(self._rings)]

    def start(self, specs: list[SlotSpec]) -> list[SlotHandle]:
        return [RaySlot(spec, self) for spec in specs]

    def replace(self, slot: SlotHandle) -> SlotHandle:
        assert isinstance(slot, RaySlot)
        with contextlib.suppress(Exception):  # no waiting on the scheduler's thread: its
            self.ray.kill(slot.host)  # worker and trial die with it (parent-death signals)
        return RaySlot(slot.spec, self)

    def waiting(self, slot: SlotHandle) -> str | None:
        need = "1 GPU" if self.gpus else f"{self.cpus_per_trial} CPU(s)"
        return f"is waiting for its Ray actor ({need}, {self.start_timeout:g} s at most)"

    def close(self, slots: list[SlotHandle]) -> None:
        for slot in slots:
            slot.request_stop()  # all at once: actors stop in parallel
        for slot in slots:
            slot.shutdown()
        disconnect()
