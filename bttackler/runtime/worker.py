"""Worker slots: one long-lived process per slot that preloads torch and the task once, then
forks a fresh child for every trial (a per-slot fork server).

Forking a process that already imported torch costs milliseconds, so a slot turns around in
well under the 0.2 s target, and a trial that segfaults, is OOM-killed or is SIGTERMed takes
only its own child down; the slot reports how the child ended and takes the next trial.

The worker talks to the main process over a pipe (commands in, "ready" out) and writes one
``EXIT`` record into the slot's ring after its child is gone, so the monitor always sees a
trial's records in order and its end last.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bttackler.core.ring import Kind, RingWriter, attach

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class SlotSpec:
    """How a slot's worker is set up (picklable: it crosses into the spawned process)."""

    index: int
    shm_name: str
    task_path: str
    device: str  # "cpu" or "cuda:0" (the slot sees one GPU through CUDA_VISIBLE_DEVICES)
    cuda_visible_devices: str | None
    threads: int
    parent_pid: int
    data_dir: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    trace: bool = True


@dataclass(frozen=True)
class TrialOrder:
    """A trial for a slot to run."""

    trial_id: int
    params: dict[str, Any]
    seed: int
    log_path: str


# ---------------------------------------------------------------- worker process side


def _die_with_parent(sig: int) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (no-op elsewhere)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


def worker_main(spec: SlotSpec, conn: multiprocessing.connection.Connection) -> None:
    """Entry point of a slot's worker process."""
    if spec.cuda_visible_devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = spec.cuda_visible_devices
    _die_with_parent(signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's business
    if os.getppid() != spec.parent_pid:
        return
    shm = attach(spec.shm_name)
    import torch  # noqa: F401  (preloaded once, shared by every forked trial)
    import torch._dynamo  # noqa: F401  (the first optimizer of a process imports it: ~2.4 s)
    import torch.optim  # noqa: F401

    from bttackler.core.task import import_task_module
    from bttackler.trialside.kernels import warm_up

    if spec.trace and spec.device == "cpu":
        warm_up()  # the probe's compiled kernel, loaded once and shared by every forked trial

    try:
        module = import_task_module(Path(spec.task_path))
    except Exception as exc:  # reported by the main process as one line
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    error = cuda_fork_error(spec.task_path)
    if error is not None:
        conn.send(("error", error))
        return
    conn.send(("ready", os.getpid()))
    try:
        _serve(spec, conn, shm.buf, module)  # type: ignore[arg-type]
    finally:
        shm.close()
    os._exit(0)  # skip interpreter teardown (torch's takes ~1 s); nothing is left to flush


def cuda_fork_error(task_path: str) -> str | None:
    """Why this slot must not fork trials, or None: a CUDA context does not survive a fork, so
    if importing torch or the task initialised CUDA, every trial would fail in its first CUDA
    call. Checked once per slot, before the first fork."""
    import torch

    if not torch.cuda.is_initialized():
        return None
    return (
        f"CUDA was initialised before forking trials (by importing {task_path} or torch); "
        "a forked trial cannot use it: move every CUDA call (.cuda(), torch.cuda.*, tensors "
        "on 'cuda') from the task's module level into run()"
    )


def _serve(spec: SlotSpec, conn: Any, buf: memoryview, module: Any) -> None:
    child: int | None = None
    child_fd: int | None = None
    order: TrialOrder | None = None
    kill_deadline: float | None = None
    kill_requested = False
    while True:
        if os.getppid() != spec.parent_pid:  # orphaned: take the trial down with us
            if child is not None:
                _kill_quietly(child, signal.SIGKILL)
            return
        waitables: list[Any] = [conn]
        if child_fd is not None:
            waitables.append(child_fd)
        timeout = 0.5 if child is None else 0.05
        if kill_deadline is not None:
            timeout = max(0.0, min(timeout, kill_deadline - time.monotonic()))
        ready = multiprocessing.connection.wait(waitables, timeout=timeout)
        if conn in ready:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                message = ("stop",)
            command = message[0]
            if command == "run" and child is None:
                order = message[1]
                child = _fork_trial(spec, buf, module, order)
                child_fd = _pidfd(child)
                kill_deadline, kill_requested = None, False
            elif command == "kill" and child is not None and order is not None:
                if message[1] == order.trial_id and not kill_requested:
                    _kill_quietly(child, signal.SIGTERM)
                    kill_requested = True
                    kill_deadline = time.monotonic() + float(message[2])
            elif command == "stop":
                if child is not None:
                    _kill_quietly(child, signal.SIGKILL)
                    os.waitpid(child, 0)
                return
        if child is not None and kill_deadline is not None and time.monotonic() >= kill_deadline:
            _kill_quietly(child, signal.SIGKILL)
            kill_deadline = None
        if child is not None:
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid == child and order is not None:
                _report_exit(buf, order.trial_id, status, kill_requested)
                if child_fd is not None:
                    os.close(child_fd)
                child, child_fd, order, kill_deadline = None, None, None, None


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None  # the loop still polls every 50 ms


def _kill_quietly(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _report_exit(buf: memoryview, trial_id: int, status: int, kill_requested: bool) -> None:
    if os.WIFSIGNALED(status):
        exit_code, sig = -1, os.WTERMSIG(status)
    else:
        exit_code, sig = os.WEXITSTATUS(status), 0
    RingWriter(buf).write(
        Kind.EXIT, trial_id, values=[float(exit_code), float(sig), float(kill_requested)]
    )


def _fork_trial(spec: SlotSpec, buf: memoryview, module: Any, order: TrialOrder) -> int:
    worker = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        _die_with_parent(signal.SIGKILL)
        if os.getppid() != worker:  # the worker died before the signal was set: no orphans
            os._exit(1)
        code = _run_trial_child(spec, buf, module, order)
    finally:
        os._exit(code)


def _run_trial_child(spec: SlotSpec, buf: memoryview, module: Any, order: TrialOrder) -> int:
    """Runs in the forked child: the trial itself. Returns the exit code."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    writer = RingWriter(buf)
    log = open(order.log_path, "ab", buffering=0)  # noqa: SIM115  (lives until os._exit)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    faulthandler.enable(file=log)
    writer.write(Kind.STARTED, order.trial_id, values=[float(os.getpid())])
    import torch

    from bttackler.trialside.trial import Trial

    torch.set_num_threads(spec.threads)
    torch.manual_seed(order.seed)
    trial = Trial(
        order.trial_id,
        order.params,
        writer=writer,
        device=torch.device(spec.device),
        options=spec.options,
        data_dir=Path(spec.data_dir) if spec.data_dir else None,
        seed=order.seed,
        trace=spec.trace,
    )
    try:
        module.run(trial.params, trial)  # the same read-tracking mapping as trial.params
        trial.note_unread_params()
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # everything the user's code raises ends the trial as failed
        traceback.print_exc()
        writer.write_text(Kind.ERROR, order.trial_id, f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        with contextlib.suppress(Exception):
            trial.close()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
