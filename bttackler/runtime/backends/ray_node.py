"""A Ray slot on its node: the actor that creates the slot's shared-memory ring there,
starts the same worker process as the local backend (``runtime.worker``), and hands the
ring's records and the trials' logs to the driver in batches (``ray_cluster`` is the
driver's side).

The worker is a child of the actor with the parent-death signal set, and every trial is a
child of the worker with it set too: when the actor ends - stopped, killed with its node, or
killed by Ray because the driver died - no trial process outlives it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bttackler.core.ring import (
    RECORD_DTYPE,
    Kind,
    RingReader,
    create_ring,
    pid_alive,
    shm_name,
    sweep_stale_segments,
)
from bttackler.core.trial_state import TrialState
from bttackler.runtime.backends.local import LocalSlot
from bttackler.runtime.worker import SlotSpec, TrialOrder

# How often a waiting drain looks at the ring: every POLL_FIRST seconds at first (records
# come in bursts: an epoch's, a trial's end), then less often (x POLL_GROWTH per look, up
# to POLL_MOST) while nothing comes; each look wakes the actor's process, and on a loaded
# node those wake-ups are CPU the trials do not get.
POLL_FIRST = 0.001
POLL_GROWTH = 1.5
POLL_MOST = 0.010
LOG_CHUNK = 1 << 20  # bytes of a trial's log sent back per drain


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
        pause = POLL_FIRST
        while time.monotonic() < deadline and not self._closed.is_set():
            with self._drain_lock:
                if self._closed.is_set() or self._reader.pending() > 0:
                    break
            time.sleep(pause)
            pause = min(pause * POLL_GROWTH, POLL_MOST)
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
