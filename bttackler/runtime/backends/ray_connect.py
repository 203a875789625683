"""Joining a Ray cluster and sizing slots to it: one clear error line for what Ray would
otherwise retry for minutes or raise as a traceback. Pure functions but ``connect``."""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any

from bttackler.core.errors import BttacklerError

RAY_MISSING = "--backend ray needs Ray on this machine and every node: pip install 'bttackler[ray]'"


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise BttacklerError(RAY_MISSING) from exc
    return ray


def last_line(exc: BaseException) -> str:
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
        raise BttacklerError(f"could not join {where}: {last_line(exc)}") from exc
    _CONNECTED_HERE = True
    return ray


def disconnect() -> None:
    """Shut down the Ray connection if :func:`connect` made it (a Ray started here ends)."""
    global _CONNECTED_HERE
    if _CONNECTED_HERE:
        _CONNECTED_HERE = False
        with contextlib.suppress(Exception):
            import_ray().shutdown()


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
