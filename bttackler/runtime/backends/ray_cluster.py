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
from bttackler.core.ring import (
    RECORD_DTYPE,
    Kind,
    RingReader,
    create_ring,
    pid_alive,
    shm_name,
    sweep_stale_segments,
)
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
        sweep_stale_segments()  # rings and folders of actors killed before they could stop
        sweep_stale_scratch()
        self._scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        task_path = _task_on_this_node(spec.task_path, task_source, self._scratch)
        self._shm = create_ring(shm_name(f"ray{os.getpid()}", spec.index), ring_capacity)
        self._reader = RingReader(self._shm.buf)  # type: ignore[arg-type]
        self._spec = replace(
            spec, shm_name=self._shm.name, task_path=str(task_path), parent_pid=os.getpid()
        )
        self._pipe_lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self._logs: dict[int, list[Any]] = {}  # trial id -> [local path, bytes sent]
        self._killed: set[int] = set()  # kills that may arrive before their run (threaded)
        self._unacked = np.zeros(0, dtype=RECORD_DTYPE)  # sent, not yet confirmed received
        self._closed = threading.Event()  # the ring is gone: drain returns at once
        self._released = threading.Event()  # the owner thread (and so the worker) may end
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
        self._released.wait()

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

    def run(self, order: TrialOrder, grace: float) -> None:
        path = self._scratch / f"{order.trial_id}.log"
        self._logs[order.trial_id] = [path, 0]
        with self._pipe_lock:
            assert self._worker is not None
            self._worker.finish()
            self._worker.start(replace(order, log_path=str(path)), 0.0)
            if order.trial_id in self._killed:  # its kill overtook it (calls run concurrently)
                self._worker.kill(TrialState.STOPPED, "asked by the driver", 0.0, grace)

    def kill(self, trial_id: int, grace: float) -> None:
        with self._pipe_lock:
            self._killed.add(trial_id)
            worker = self._worker
            if worker is not None and worker.trial_id == trial_id:
                worker.kill(TrialState.STOPPED, "asked by the driver", 0.0, grace)

    def drain(
        self, wait: float, received: int
    ) -> tuple[np.ndarray, int, dict[int, bytes], bool, float]:
        """The records the driver has not confirmed (``received``: the highest sequence
        number it has) plus those written since, waiting up to ``wait`` seconds for new
        ones; the records lost to overrun meanwhile, new log output per trial, whether the
        worker is alive, and this node's clock. A batch whose reply never arrived is sent
        again, so a lost reply loses nothing."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not self._closed.is_set():
            with self._drain_lock:
                if self._closed.is_set() or self._reader.pending() > 0:
                    break
            time.sleep(POLL)
        with self._drain_lock:
            alive = self._worker is not None and self._worker.alive()
            if self._closed.is_set():
                return self._unacked[:0], 0, {}, alive, time.time()
            lost_before = self._reader.lost
            fresh = self._reader.read_array()
            lost = self._reader.lost - lost_before
            keep = self._unacked[self._unacked["seq"] > received]
            self._unacked = np.concatenate([keep, fresh]) if len(keep) else fresh
            logs = self._collect_logs(fresh)
            return self._unacked, lost, logs, alive, time.time()

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
        with self._pipe_lock:
            if self._worker is not None:
                self._worker.shutdown(timeout=2.0)  # its own "stop": the trial first
        self._released.set()
        with self._drain_lock:
            self._closed.set()
            with contextlib.suppress(Exception):
                self._shm.close()
            with contextlib.suppress(FileNotFoundError):
                self._shm.unlink()
        shutil.rmtree(self._scratch, ignore_errors=True)


SCRATCH_PREFIX = "bttackler-ray-slot-"


def sweep_stale_scratch() -> list[Path]:
    """Remove the scratch folders of slot actors that no longer exist (killed with their
    driver, or by Ray, before ``stop``): their pid is in the name."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        pid = folder.name[len(SCRATCH_PREFIX) :].split("-")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


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
            done, _ = self._ray.wait([self._pending], timeout=0)
            if not done:
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
                return f"its Ray actor could not start: {_last_line(exc)}"
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
        global _CONNECTED_HERE
        if _CONNECTED_HERE:
            with contextlib.suppress(Exception):
                self.ray.shutdown()
            _CONNECTED_HERE = False


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]


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
        return "cuda:0", max(1, cpus // gpus)  # the backend refines it per GPU node
    if workers * cpus_per_trial > cpus:
        raise BttacklerError(
            f"the Ray cluster has {cpus} CPU(s): --workers {workers} x --cpus-per-trial "
            f"{cpus_per_trial} do not fit; lower either"
        )
    return "cpu", cpus_per_trial


_CONNECTED_HERE = False  # whether this process's Ray connection is ours to shut down


def connect(address: str | None) -> Any:
    """Ray, connected to ``address`` (or RAY_ADDRESS, or a Ray started here); a wrong
    address or a Ray that does not start is one error line, not minutes of retries or a
    traceback."""
    global _CONNECTED_HERE
    ray = import_ray()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        check_reachable(address)
    try:
        ray.init(**_init_arguments(address))
    except Exception as exc:
        where = f"the Ray cluster at {address}" if address else "a Ray on this machine"
        raise BttacklerError(f"could not join {where}: {_last_line(exc)}") from exc
    _CONNECTED_HERE = True
    return ray


def cluster_shape(nodes: list[dict[str, Any]]) -> tuple[int, int, int]:
    """Of the live nodes (``ray.nodes()``): CPUs, GPUs, and the CPUs per GPU of the GPU node
    that has the fewest (each GPU trial's torch threads; CPU-only nodes do not count)."""
    alive = [n.get("Resources", {}) for n in nodes if n.get("Alive")]
    cpus = sum(int(r.get("CPU", 0)) for r in alive)
    gpus = sum(int(r.get("GPU", 0)) for r in alive)
    per_gpu = [int(r.get("CPU", 0)) // int(r["GPU"]) for r in alive if int(r.get("GPU", 0))]
    return cpus, gpus, max(1, min(per_gpu, default=1))


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
    else:  # "local": a new Ray, even where `ray start` left a (perhaps dead) cluster's address
        arguments.update(address="local", include_dashboard=False)
    return arguments
