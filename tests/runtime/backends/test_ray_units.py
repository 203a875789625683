"""The Ray backend's pure parts: how slots fit a cluster, where a node finds the task, and
the configuration that asks for Ray."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from bttackler.core.config import run_settings
from bttackler.core.errors import BttacklerError
from bttackler.runtime.backends.ray_connect import _init_arguments, check_reachable, slot_shape
from bttackler.runtime.backends.ray_node import _task_on_this_node


def test_cpu_slots_take_cpus_per_trial_threads():
    assert slot_shape(workers=3, cpus=8, gpus=0, cpus_per_trial=2) == ("cpu", 2)


def test_slots_that_do_not_fit_the_cpus_are_refused_up_front():
    with pytest.raises(BttacklerError, match="2 CPU.*--workers 3 x --cpus-per-trial 1"):
        slot_shape(workers=3, cpus=2, gpus=0, cpus_per_trial=1)


def test_with_gpus_each_slot_takes_one_and_shares_the_cpus():
    assert slot_shape(workers=2, cpus=16, gpus=4, cpus_per_trial=1) == ("cuda:0", 4)
    with pytest.raises(BttacklerError, match="4 GPU"):
        slot_shape(workers=5, cpus=16, gpus=4, cpus_per_trial=1)


def test_a_node_that_sees_the_same_task_file_uses_it(tmp_path):
    task = tmp_path / "task.py"
    task.write_text("X = 1\n")
    assert _task_on_this_node(str(task), "X = 1\n", tmp_path / "scratch") == task


def test_a_node_without_the_file_or_with_another_version_gets_the_drivers_source(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    elsewhere = _task_on_this_node("/nowhere/task.py", "X = 2\n", scratch)
    assert elsewhere == scratch / "task.py" and elsewhere.read_text() == "X = 2\n"
    stale = tmp_path / "stale.py"
    stale.write_text("X = 1\n")
    copy = _task_on_this_node(str(stale), "X = 3\n", scratch)
    assert copy.parent == scratch and copy.read_text() == "X = 3\n"


def test_backend_settings_are_validated():
    settings = run_settings({"run": {"backend": "ray", "ray_address": "10.0.0.5:6379",
                                     "cpus_per_trial": 2}})  # fmt: skip
    assert (settings.backend, settings.ray_address, settings.cpus_per_trial) == (
        "ray", "10.0.0.5:6379", 2,
    )  # fmt: skip
    assert run_settings({}).backend == "local"
    with pytest.raises(BttacklerError, match="backend must be one of local, ray"):
        run_settings({"run": {"backend": "slurm"}})
    with pytest.raises(BttacklerError, match="ray_address .* is for backend ray"):
        run_settings({"run": {"ray_address": "10.0.0.5:6379"}})


def test_an_unreachable_cluster_address_is_one_line_not_minutes_of_retries():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    with pytest.raises(BttacklerError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        check_reachable(f"127.0.0.1:{port}")
    check_reachable("auto")  # left to Ray


def test_the_cli_refuses_an_unreachable_cluster_before_writing_anything(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = subprocess.run(
        [sys.executable, "-m", "bttackler.cli", "run", "--backend", "ray", "--ray-address",
         f"127.0.0.1:{port}", "--budget", "5s", "--results-dir", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"error: cannot reach the Ray cluster at 127.0.0.1:{port} (Connection refused); is "
        "`ray start --head` running there, and is the port the one it printed?"
    ]
    assert not (tmp_path / "r").exists()


def test_without_an_address_a_new_ray_is_started_here_even_after_a_dead_cluster():
    # plain ray.init() joins the cluster `ray start` last left in /tmp/ray - and waits
    # for minutes when that cluster died without cleaning up
    assert _init_arguments(None)["address"] == "local"
    assert _init_arguments("10.0.0.5:6379")["address"] == "10.0.0.5:6379"
