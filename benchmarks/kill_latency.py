"""Kill latency: SIGTERM request to trial process gone, median and max (target median <= 0.5 s).

Drives a real worker slot (the same fork server the runner uses) with a task that reports
every 10 ms forever, asks the slot to kill it, and times until the worker's EXIT record is
read from the ring: the process is reaped by then. Also measures a task that ignores SIGTERM
(the SIGKILL escalation after the grace period), and the whole diagnosis path on a real run:
from the epoch record that triggered a verdict to the trial process gone.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from pathlib import Path

from _common import ROOT, describe, run_cli

from bttackler.core.ring import Kind, RingReader, create_ring, shm_name
from bttackler.runtime.backends.local import LocalSlot
from bttackler.runtime.worker import SlotSpec, TrialOrder

HANG_TASK = """
import signal, time
OBJECTIVE = "score"
MODE = "max"
MAX_EPOCHS = 1000000
DEFAULT_SPACE = "space.yaml"

def run(params, trial):
    if params.get("ignore_term"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    epoch = 0
    while True:
        trial.report(epoch, score=0.0)
        epoch += 1
        time.sleep(0.01)
"""


def _wait_for(reader: RingReader, kind: int, timeout: float = 10.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in reader.read():
            if record.kind == kind:
                return time.monotonic()
        time.sleep(0.001)
    raise RuntimeError(f"no record of kind {kind} within {timeout}s")


def slot_kill_latencies(task: Path, repeats: int, ignore_term: bool, grace: float) -> list[float]:
    shm = create_ring(shm_name("killbench", 0), 4096)
    slot = LocalSlot(SlotSpec(index=0, shm_name=shm.name, task_path=str(task), device="cpu",
                         cuda_visible_devices="", threads=1, parent_pid=os.getpid()))  # fmt: skip
    try:
        while not slot.ready:
            if slot.poll_ready():
                raise RuntimeError("slot failed to start")
            time.sleep(0.01)
        reader = RingReader(shm.buf)
        latencies = []
        for i in range(repeats):
            order = TrialOrder(i + 1, {"ignore_term": ignore_term}, 0, os.devnull)
            slot.start(order, 0.0)
            _wait_for(reader, Kind.METRIC)
            t0 = time.monotonic()
            slot.kill("stopped", "bench", 0.0, grace)
            latencies.append(_wait_for(reader, Kind.EXIT) - t0)
            slot.finish()
        return latencies
    finally:
        slot.shutdown()
        shm.close()
        shm.unlink()


def verdict_kill_latencies(tmp: Path) -> list[float]:
    """A real run whose trials all trip PLC (learning rate 1e-9): epoch record -> trial gone."""
    task = ROOT / "tests" / "fixtures" / "diagnosis_task.py"
    if not task.is_file():
        return []
    run_cli("run", "--task", str(task), "--method", "random", "--budget", "60s", "--max-trials",
            "8", "--results-dir", str(tmp / "r"), "--name", "v", "--plain",
            "--task-opt", "behaviour=frozen")  # fmt: skip
    db = sqlite3.connect(tmp / "r" / "v" / "experiment.db")
    rows = db.execute(
        "SELECT t.ended - e.time FROM trials t JOIN epochs e ON e.trial_id = t.id "
        "AND e.epoch = t.verdict_epoch - 1 WHERE t.state = 'terminated'"
    ).fetchall()
    return [r[0] for r in rows]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        task = tmp_path / "hang.py"
        task.write_text(HANG_TASK)
        (tmp_path / "space.yaml").write_text("x: {_type: uniform, _value: [0, 1]}\n")
        describe("SIGTERM -> process gone", slot_kill_latencies(task, 30, False, 0.5), target=0.5)
        describe(
            "SIGTERM ignored -> SIGKILL after 0.5 s grace -> gone",
            slot_kill_latencies(task, 5, True, 0.5),
        )
        verdicts = verdict_kill_latencies(tmp_path)
        describe("verdict's epoch record -> process gone (real run)", verdicts, target=0.5)


if __name__ == "__main__":
    main()
