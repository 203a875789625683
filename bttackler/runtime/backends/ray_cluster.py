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
import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bttackler.core.errors import BttacklerError
from bttackler.core.ring import RECORD_DTYPE, Kind, RingReader, create_ring, shm_name
from bttackler.core.store import TrialState
from bttackler.runtime.backends.base import SlotHandle
from bttackler.runtime.backends.local import LocalSlot
from bttackler.runtime.monitor import RecordSource
from bttackler.runtime.worker import SlotSpec, TrialOrder

RAY_MISSING = "--backend ray needs Ray on this machine and every node: pip install 'bttackler[ray]'"
DRAIN_WAIT = 0.05  # seconds a drain call waits for records before returning an empty batch
POLL = 0.002  # how often a waiting drain looks at the ring
UNAVAILABLE_GRACE = 5.0  # seconds an actor may stay unreachable before its slot is lost
CLOCK_SKEW = 1.0  # node clocks further off than this are corrected on the records' times
LOG_CHUNK = 1 << 20  # bytes of a trial's log sent back per drain


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise BttacklerError(RAY_MISSING) from exc
    return ray


# ---------------------------------------------------------------- on the node (the actor)


class SlotHost:
    """One slot on a Ray node: its ring, its worker process, its trials' logs.

    Runs as a threaded actor: ``drain`` waits for records while ``run`` and ``kill`` go
    straight through to the worker's pipe.
    """

    def __init__(self, spec: SlotSpec, task_source: str, ring_capacity: int) -> None:
        import ray

        self.node = ray.get_runtime_context().get_node_id()
        self._scratch = Path(tempfile.mkdtemp(prefix=f"bttackler-slot{spec.index}-"))
        task_path = _task_on_this_node(spec.task_path, task_source, self._scratch)
        self._shm = create_ring(shm_name(f"ray{os.getpid()}", spec.index), ring_capacity)
        self._reader = RingReader(self._shm.buf)  # type: ignore[arg-type]
        self._spec = replace(
            spec, shm_name=self._shm.name, task_path=str(task_path), parent_pid=os.getpid()
        )
        self._pipe_lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self._logs: dict[int, list[Any]] = {}  # trial id -> [local path, bytes sent]
        self._closed = threading.Event()
        self._worker: LocalSlot | None = None
        started = threading.Event()
        # The worker dies with the thread that started it (its parent-death signal), so a
        # thread that lives as long as the actor starts it, not one of Ray's pool threads.
        self._owner = threading.Thread(
            target=self._own_worker, args=(started,), name="bttackler-slot-owner", daemon=True
        )
        self._owner.start()
        started.wait()

    def _own_worker(self, started: threading.Event) -> None:
        try:
            self._worker = LocalSlot(self._spec)
        finally:
            started.set()
        self._closed.wait()

    def hello(self, timeout: float) -> tuple[str, str, str]:
        """Wait for the worker to load torch and the task: ("ready"|"error", detail, node)."""
        worker = self._worker
        if worker is None:
            return "error", "the slot's worker process could not be started", self.node
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._pipe_lock:
                error = worker.poll_ready()
            if error:
                return "error", error, self.node
            if worker.ready:
                return "ready", str(worker.process.pid), self.node
            if not worker.alive():
                return "error", "worker process exited while starting", self.node
            time.sleep(0.01)
        return "error", f"the worker did not start within {timeout:g} s", self.node

    def run(self, order: TrialOrder) -> None:
        path = self._scratch / f"{order.trial_id}.log"
        self._logs[order.trial_id] = [path, 0]
        with self._pipe_lock:
            assert self._worker is not None
            self._worker.finish()
            self._worker.start(replace(order, log_path=str(path)), 0.0)

    def kill(self, trial_id: int, grace: float) -> None:
        with self._pipe_lock:
            worker = self._worker
            if worker is not None and worker.trial_id == trial_id:
                worker.kill(TrialState.STOPPED, "asked by the driver", 0.0, grace)

    def drain(self, wait: float) -> tuple[np.ndarray, int, dict[int, bytes], bool, float]:
        """The records written since the last call (waiting up to ``wait`` seconds for the
        first), the records lost meanwhile, new log output per trial, whether the worker is
        alive, and this node's clock."""
        deadline = time.monotonic() + wait
        while (
            self._reader.pending() == 0
            and time.monotonic() < deadline
            and not self._closed.is_set()
        ):
            time.sleep(POLL)
        with self._drain_lock:
            lost_before = self._reader.lost
            rows = self._reader.read_array()
            lost = self._reader.lost - lost_before
            logs = self._collect_logs(rows)
        alive = self._worker is not None and self._worker.alive()
        return rows, lost, logs, alive, time.time()

    def _collect_logs(self, rows: np.ndarray) -> dict[int, bytes]:
        ended = set(rows["trial_id"][rows["kind"] == Kind.EXIT].tolist()) if len(rows) else set()
        out: dict[int, bytes] = {}
        for trial_id, entry in list(self._logs.items()):
            path, sent = entry
            done = trial_id in ended  # the worker wrote EXIT after the trial was reaped
            with contextlib.suppress(OSError), open(path, "rb") as log:
                log.seek(sent)
                data = log.read() if done else log.read(LOG_CHUNK)
                if data:
                    out[trial_id] = data
                    entry[1] = sent + len(data)
            if done:
                del self._logs[trial_id]
                with contextlib.suppress(OSError):
                    os.unlink(path)
        return out

    def stop(self) -> None:
        """End the worker (and any trial), free the ring and the scratch folder."""
        self._closed.set()
        with self._pipe_lock:
            if self._worker is not None:
                self._worker.shutdown(timeout=2.0)
        with self._drain_lock:
            with contextlib.suppress(Exception):
                self._shm.close()
            with contextlib.suppress(FileNotFoundError):
                self._shm.unlink()
        shutil.rmtree(self._scratch, ignore_errors=True)


def _task_on_this_node(path: str, source: str, scratch: Path) -> Path:
    """The task file: the driver's path where this node sees the same file (a shared or
    identical checkout, an installed built-in task), else its source written next to us."""
    here = Path(path)
    with contextlib.suppress(OSError):
        if here.is_file() and here.read_text() == source:
            return here
    copy = scratch / here.name
    copy.write_text(source)
    return copy


# ---------------------------------------------------------------- on the driver


class RemoteRing:
    """The driver's record source of one slot index: batches from whichever actor serves the
    slot now. Read by the monitor thread only; re-attached by the scheduler's thread."""

    def __init__(self, ray: Any) -> None:
        self._ray = ray
        self._lock = threading.Lock()
        self._host: Any = None
        self._pending: Any = None
        self._unavailable_since: float | None = None
        self._log_paths: dict[int, Path] = {}
        self.lost = 0
        self.dead: str | None = None  # why the actor is gone, once it is
        self.worker_alive = True
        self._empty = np.zeros(0, dtype=RECORD_DTYPE)

    def attach(self, host: Any) -> None:
        with self._lock:
            self._host, self._pending = host, None
            self._unavailable_since, self.dead, self.worker_alive = None, None, True

    def log_to(self, trial_id: int, path: Path) -> None:
        """Where the trial's log goes on this machine (created now, as a local trial's is)."""
        self._log_paths[trial_id] = path
        with contextlib.suppress(OSError):
            path.touch()

    def read_array(self, limit: int | None = None) -> np.ndarray:
        with self._lock:
            host = self._host
            if host is None or self.dead is not None:
                return self._empty
            if self._pending is None:
                self._pending = host.drain.remote(DRAIN_WAIT)
                return self._empty
            done, _ = self._ray.wait([self._pending], timeout=0)
            if not done:
                return self._empty
            try:
                rows, lost, logs, alive, node_clock = self._ray.get(self._pending)
            except self._ray.exceptions.ActorUnavailableError as exc:
                self._pending = host.drain.remote(DRAIN_WAIT)  # perhaps a passing blip
                now = time.monotonic()
                self._unavailable_since = self._unavailable_since or now
                if now - self._unavailable_since > UNAVAILABLE_GRACE:
                    self.dead = f"unreachable for {UNAVAILABLE_GRACE:g} s ({type(exc).__name__})"
                return self._empty
            except self._ray.exceptions.RayActorError as exc:
                self.dead = type(exc).__name__
                return self._empty
            self._pending = host.drain.remote(DRAIN_WAIT)
            self._unavailable_since = None
        self.lost += int(lost)
        self.worker_alive = bool(alive)
        self._write_logs(logs)
        skew = time.time() - float(node_clock)
        if len(rows) and abs(skew) > CLOCK_SKEW:
            rows["time"] += skew
        return rows

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
        self.host.run.remote(order)

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
        start_timeout: float = 240.0,
    ) -> None:
        self.ray = import_ray()
        self._connected_here = not self.ray.is_initialized()
        if self._connected_here:
            address = address or os.environ.get("RAY_ADDRESS") or None
            if address:
                check_reachable(address)  # Ray itself would retry a wrong address for minutes
            self.ray.init(**_init_arguments(address))
        self.ring_capacity = ring_capacity
        self.start_timeout = start_timeout
        self.task_source = task_path.read_text()
        resources = self.ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        self.cpus = int(resources.get("CPU", 0))
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
        slot.shutdown(timeout=0.5)
        return RaySlot(slot.spec, self)

    def waiting(self, slot: SlotHandle) -> str | None:
        need = "1 GPU" if self.gpus else f"{self.cpus_per_trial} CPU(s)"
        return f"is waiting for its Ray actor ({need}, {self.start_timeout:g} s at most)"

    def close(self, slots: list[SlotHandle]) -> None:
        for slot in slots:
            slot.request_stop()  # all at once: actors stop in parallel
        for slot in slots:
            slot.shutdown()
        if self._connected_here:
            with contextlib.suppress(Exception):
                self.ray.shutdown()


def slot_shape(workers: int, cpus: int, gpus: int, cpus_per_trial: int) -> tuple[str, int]:
    """The device and torch threads of each of ``workers`` slots on a cluster of ``cpus``
    CPUs and ``gpus`` GPUs: one GPU each where there are GPUs, else ``cpus_per_trial`` CPUs.
    A cluster too small to run them all at once is an error (a slot would wait forever)."""
    if gpus:
        if workers > gpus:
            raise BttacklerError(
                f"the Ray cluster has {gpus} GPU(s): --workers {workers} slots of one GPU "
                "each do not fit; lower --workers"
            )
        return "cuda:0", max(1, cpus // gpus)
    if workers * cpus_per_trial > cpus:
        raise BttacklerError(
            f"the Ray cluster has {cpus} CPU(s): --workers {workers} x --cpus-per-trial "
            f"{cpus_per_trial} do not fit; lower either"
        )
    return "cpu", cpus_per_trial


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail with one line if ``HOST:PORT`` does not accept connections ("auto" and other
    forms are left to Ray)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or "/" in host:
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise BttacklerError(
            f"cannot reach the Ray cluster at {address} ({reason}); is `ray start --head` "
            "running there, and is the port the one it printed?"
        ) from exc


def _init_arguments(address: str | None) -> dict[str, Any]:
    """``ray.init`` arguments: connect to ``address`` (or RAY_ADDRESS), else start a
    single-node Ray here; quiet (trial output goes to the run's trial logs)."""
    arguments: dict[str, Any] = {
        "logging_level": "ERROR",
        "log_to_driver": False,
        "configure_logging": True,
    }
    if address:
        arguments["address"] = address
    else:
        arguments["include_dashboard"] = False
    return arguments
