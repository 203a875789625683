"""End-to-end on a real two-node Ray cluster started on 127.0.0.1 by the fixture: a search
across both nodes, a verdict on the second node, a node stopped mid-run, the driver killed
with -9 and resumed. All in one xdist group: one cluster, started once, on one test worker.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the Ray backend's tests need bttackler[ray]")

ROOT = Path(__file__).resolve().parents[3]
DIAGNOSIS_TASK = str(ROOT / "tests" / "fixtures" / "diagnosis_task.py")
BTTACKLER = [sys.executable, "-m", "bttackler.cli"]
RAY = [sys.executable, "-m", "ray.scripts.scripts"]

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(root: int) -> list[tuple[int, str]]:
    """(pid, command line) of ``root`` and every process below it (Ray's workers start
    sessions of their own, so a process group or session would miss them)."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,ppid=,args="], capture_output=True, text=True)
    children: dict[int, list[tuple[int, str]]] = {}
    for line in out.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3:
            children.setdefault(int(parts[1]), []).append((int(parts[0]), parts[2]))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def _kill_tree(root: int) -> None:
    """A whole node at once: its raylet, actors, their workers and trials."""
    for pid in [root] + [pid for pid, _ in _descendants(root)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class Cluster:
    address: str
    env: dict[str, str]
    head: subprocess.Popen
    node2: subprocess.Popen | None = None
    node2_id: str = ""
    logs: list[Path] = field(default_factory=list)

    def start_node2(self, tmp: Path) -> None:
        log = tmp / f"node2-{len(self.logs)}.log"
        self.logs.append(log)
        self.node2 = subprocess.Popen(
            [*RAY, "start", f"--address={self.address}", "--node-ip-address=127.0.0.1",
             "--num-cpus=1", '--resources={"node2": 1}', "--object-store-memory=80000000",
             "--block"],
            stdout=log.open("w"), stderr=subprocess.STDOUT, env=self.env,
            start_new_session=True,
        )  # fmt: skip
        self.node2_id = self._wait_for_nodes(2)

    def stop_node2(self) -> None:
        assert self.node2 is not None
        _kill_tree(self.node2.pid)
        self.node2.wait(10)
        self.node2 = None

    def _wait_for_nodes(self, count: int) -> str:
        probe = (
            f"import ray, json; ray.init(address={self.address!r}, logging_level='ERROR'); "
            "print(json.dumps([[n['NodeID'], n['Resources']] for n in ray.nodes() "
            "if n['Alive']]))"
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            out = subprocess.run(
                [sys.executable, "-c", probe], capture_output=True, text=True, env=self.env
            )
            if out.returncode == 0:
                nodes = json.loads(out.stdout.strip().splitlines()[-1])
                if len(nodes) >= count:
                    return next((n for n, res in nodes if "node2" in res), "")
            time.sleep(0.5)
        raise RuntimeError(f"the Ray cluster did not reach {count} nodes")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("ray")
    port = _free_port()
    # RAY_AUTH_MODE: once any `ray.init()` on this machine started a local Ray, Ray 2.60 left
    # a token in ~/.ray/auth_token; a head started later turns token auth on from it while a
    # joining node does not, and the node is refused. The test cluster (127.0.0.1, its own
    # processes) runs without tokens, whatever an earlier Ray on this machine left behind.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "disabled"}  # fmt: skip
    env.pop("RAY_ADDRESS", None)
    head = subprocess.Popen(
        [*RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=1", "--include-dashboard=false", "--object-store-memory=80000000",
         "--disable-usage-stats", "--block"],
        stdout=(tmp / "head.log").open("w"), stderr=subprocess.STDOUT, env=env,
        start_new_session=True,
    )  # fmt: skip
    c = Cluster(address=f"127.0.0.1:{port}", env=env, head=head)
    try:
        c.start_node2(tmp)
        yield c
    finally:
        if c.node2 is not None:
            _kill_tree(c.node2.pid)
        _kill_tree(head.pid)
        head.wait(10)


def bt(cluster: Cluster, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BTTACKLER, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env=cluster.env,
    )  # fmt: skip


def ray_run(cluster: Cluster, tmp: Path, name: str, *extra: str) -> list[str]:
    return [*BTTACKLER, "run", "--backend", "ray", "--ray-address", cluster.address,
            "--workers", "2", "--method", "random", "--results-dir", str(tmp), "--name", name,
            "--plain", "--seed", "1", *extra]  # fmt: skip


def rows(run_dir: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(run_dir / "experiment.db")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def slot_nodes(run_dir: Path) -> dict[int, str]:
    (value,) = rows(run_dir, "SELECT value FROM meta WHERE key = 'slot_nodes'")[0]
    return {int(k): v for k, v in json.loads(value).items()}


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except sqlite3.OperationalError:
            pass  # the run has not created its tables yet
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def start_healthy_run(cluster: Cluster, tmp: Path, name: str, budget: str) -> subprocess.Popen:
    """A run of slow healthy trials (0.3 s epochs), returned once both slots run one."""
    driver = subprocess.Popen(
        ray_run(cluster, tmp, name, "--task", DIAGNOSIS_TASK, "--budget", budget,
                "--task-opt", "behaviour=healthy", "--task-opt", "epoch_seconds=0.3"),
        cwd=ROOT, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until(
            lambda: rows(tmp / name, "SELECT COUNT(DISTINCT slot) FROM trials "
                         "WHERE state = 'running'")[0][0] == 2,
            60, "trials running on both slots",
        )  # fmt: skip
    except BaseException:
        driver.kill()
        raise
    return driver


def test_a_search_on_the_default_task_runs_on_both_nodes(cluster, tmp_path):
    out = subprocess.run(
        ray_run(cluster, tmp_path, "digits", "--task", "digits", "--budget", "10s"),
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=cluster.env,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    run_dir = tmp_path / "digits"
    nodes = slot_nodes(run_dir)
    assert set(nodes.values()) == {nodes[0], nodes[1]} and nodes[0] != nodes[1]
    assert cluster.node2_id in nodes.values()
    per_slot = dict(rows(run_dir, "SELECT slot, COUNT(*) FROM trials GROUP BY slot"))
    assert per_slot.get(0, 0) >= 1 and per_slot.get(1, 0) >= 1, per_slot
    assert rows(run_dir, "SELECT COUNT(*) FROM epochs")[0][0] > 0
    # trials, compare, report and replay read a Ray run like any other
    for command in (["trials"], ["report"], ["replay"], ["compare", str(run_dir)]):
        done = bt(cluster, *command, str(run_dir))
        assert done.returncode == 0, done.stdout + done.stderr
    assert (run_dir / "report.md").is_file()


def test_a_verdict_kills_a_trial_on_the_second_node(cluster, tmp_path):
    out = subprocess.run(
        ray_run(cluster, tmp_path, "nan", "--task", DIAGNOSIS_TASK, "--budget", "60s",
                "--max-trials", "4", "--task-opt", "sequence=nan"),
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=cluster.env,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    run_dir = tmp_path / "nan"
    node2_slots = [s for s, node in slot_nodes(run_dir).items() if node == cluster.node2_id]
    assert len(node2_slots) == 1
    killed = rows(
        run_dir,
        "SELECT id, indicator, epochs, ended - started FROM trials "
        f"WHERE state = 'terminated' AND slot = {node2_slots[0]}",
    )
    assert killed and {row[1] for row in killed} == {"AGV"}, killed
    # killed inside its first epoch, not recorded as killed after running to its end (12
    # epochs of 0.15 s): the kill reached the node
    assert all(epochs <= 1 and seconds < 1.5 for _, _, epochs, seconds in killed), killed
    # its log travelled back from the node
    trial_id = killed[0][0]
    assert (run_dir / "trials" / f"{trial_id}.log").is_file()


def test_the_driver_killed_with_sigkill_leaves_no_trial_and_resumes(cluster, tmp_path):
    run_dir = tmp_path / "killed"
    driver = start_healthy_run(cluster, tmp_path, "killed", "14s")
    try:
        nodes = [cluster.head.pid, cluster.node2.pid]  # type: ignore[union-attr]
        workers = [pid for node in nodes for pid, args in _descendants(node)
                   if "spawn_main" in args]  # fmt: skip
        assert len(workers) >= 4  # two slot workers and two trials
        driver.kill()
        driver.wait(10)
        wait_until(lambda: not any(_alive(pid) for pid in workers), 15, "trial processes gone")
    finally:
        if driver.poll() is None:
            driver.kill()
    out = bt(cluster, "run", "--resume", str(run_dir), "--plain")
    assert out.returncode == 0, out.stdout + out.stderr
    interrupted = rows(run_dir, "SELECT id FROM trials WHERE state = 'interrupted'")
    retried = rows(run_dir, "SELECT retry_of FROM trials WHERE retry_of IS NOT NULL")
    assert len(interrupted) == 2 and {r for (r,) in retried} == {i for (i,) in interrupted}
    assert not rows(run_dir, "SELECT id FROM trials WHERE state = 'running'")


def test_ctrl_c_stops_every_remote_trial_and_leaves_no_process(cluster, tmp_path):
    run_dir = tmp_path / "ctrl-c"
    driver = start_healthy_run(cluster, tmp_path, "ctrl-c", "60s")
    try:
        driver.send_signal(signal.SIGINT)
        sent = time.monotonic()
        stdout, stderr = driver.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130, stdout + stderr
    assert took < 5.0, took  # the trials were killed on their nodes, not waited out
    states = dict(rows(run_dir, "SELECT state, COUNT(*) FROM trials GROUP BY state"))
    assert states.get("stopped") == 2 and "running" not in states, states
    nodes = [cluster.head.pid, cluster.node2.pid]  # type: ignore[union-attr]
    wait_until(
        lambda: not [p for n in nodes for p, args in _descendants(n) if "spawn_main" in args],
        15, "every worker and trial process gone",
    )  # fmt: skip


def test_a_node_lost_mid_run_interrupts_its_trial_and_the_run_goes_on(cluster, tmp_path):
    run_dir = tmp_path / "lost"
    driver = start_healthy_run(cluster, tmp_path, "lost", "25s")
    try:
        node2_slot = next(s for s, n in slot_nodes(run_dir).items() if n == cluster.node2_id)
        cluster.stop_node2()
        stdout, stderr = driver.communicate(timeout=90)
    finally:
        if driver.poll() is None:
            driver.kill()
        if cluster.node2 is None:
            cluster.start_node2(tmp_path)  # for the tests after this one
    assert driver.returncode == 0, stdout + stderr
    lost = rows(run_dir, f"SELECT id, reason FROM trials WHERE state = 'interrupted' "
                         f"AND slot = {node2_slot}")  # fmt: skip
    assert len(lost) == 1 and "Ray node" in lost[0][1], lost
    retried = rows(run_dir, f"SELECT state FROM trials WHERE retry_of = {lost[0][0]}")
    assert retried, "the lost node's trial was not run again"
    later = rows(run_dir, "SELECT COUNT(*) FROM trials WHERE state IN ('finished', 'stopped') "
                          f"AND id > {lost[0][0]}")  # fmt: skip
    assert later[0][0] >= 1  # the run went on on the head node


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False
