"""End-to-end: the real `bttackler` command, real worker and trial processes, real faults."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAULT_TASK = str(ROOT / "tests" / "fixtures" / "fault_task.py")
BTTACKLER = [sys.executable, "-m", "bttackler.cli"]

pytestmark = pytest.mark.slow


def bt(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BTTACKLER, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kw
    )


def trials_json(run_dir: Path) -> dict:
    out = bt("trials", str(run_dir), "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def shm_segments() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("bttackler-")}


def run_fault_task(tmp_path: Path, *extra: str, name: str = "r") -> subprocess.CompletedProcess:
    return bt(
        "run", "--task", FAULT_TASK, "--method", "random", "--results-dir", str(tmp_path),
        "--name", name, "--plain", *extra,
    )  # fmt: skip


def test_search_records_every_trial_and_epoch(tmp_path):
    proc = subprocess.Popen(
        [*BTTACKLER, "run", "--task", FAULT_TASK, "--method", "random", "--results-dir",
         str(tmp_path), "--name", "r", "--plain", "--budget", "60s", "--max-trials", "4",
         "--workers", "2", "--count", "best"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stdout + stderr
    doc = trials_json(tmp_path / "r")
    states = [t["state"] for t in doc["trials"]]
    assert states.count("finished") == 4, states
    for t in doc["trials"]:
        assert 0.0 <= t["params"]["x"] <= 1.0
        assert t["epochs"] == 3 and t["value"] is not None
        assert t["started"] < t["ended"]
    db = sqlite3.connect(tmp_path / "r" / "experiment.db")
    assert db.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 12
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert 'count = "best"' in (tmp_path / "r" / "config.toml").read_text()
    assert db.execute("SELECT value FROM meta WHERE key='count'").fetchone()[0] == '"best"'
    assert "top" in stdout and "counted by best value" in stdout and "results:" in stdout
    assert not shm_segments_of(proc.pid)  # the run unlinked its rings


def test_each_trial_fault_is_recorded_and_the_run_goes_on(tmp_path):
    out = run_fault_task(
        tmp_path, "--budget", "90s", "--max-trials", "5", "--fail-fast", "0",
        "--task-opt", "sequence=raise,segv,oom,noreport,ok",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    trials = {t["id"]: t for t in trials_json(tmp_path / "r")["trials"]}
    assert trials[1]["state"] == "failed" and "ValueError: bad value" in trials[1]["reason"]
    assert trials[2]["state"] == "failed" and "SIGSEGV" in trials[2]["reason"]
    assert trials[3]["state"] == "failed" and "out of memory" in trials[3]["reason"]
    assert trials[4]["state"] == "failed"
    assert trials[4]["reason"] == "ended without reporting score (it reported: nothing)"
    assert trials[5]["state"] == "finished"
    assert "Traceback" in (tmp_path / "r" / "trials" / "1.log").read_text()


def test_a_dead_worker_fails_its_trial_and_the_slot_is_replaced(tmp_path):
    out = run_fault_task(
        tmp_path, "--budget", "90s", "--max-trials", "3", "--task-opt",
        "sequence=kill_worker,ok",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    trials = {t["id"]: t for t in trials_json(tmp_path / "r")["trials"]}
    assert trials[1]["state"] == "failed" and trials[1]["reason"] == "worker process died"
    assert trials[2]["state"] == "finished" and trials[3]["state"] == "finished"


def test_trial_timeout_kills_and_fails_the_trial(tmp_path):
    out = run_fault_task(
        tmp_path, "--budget", "60s", "--max-trials", "2", "--trial-timeout", "2s",
        "--task-opt", "sequence=hang,ok",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    trials = {t["id"]: t for t in trials_json(tmp_path / "r")["trials"]}
    assert trials[1]["state"] == "failed" and "timed out" in trials[1]["reason"]
    assert trials[1]["duration"] < 4.0
    assert trials[2]["state"] == "finished"


def test_budget_end_stops_running_trials_even_if_they_ignore_sigterm(tmp_path):
    start = time.monotonic()
    out = run_fault_task(
        tmp_path, "--budget", "3s", "--workers", "2", "--task-opt", "sequence=hang,ignore_term"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    trials = trials_json(tmp_path / "r")["trials"]
    assert {t["state"] for t in trials} == {"stopped"}
    assert all(t["reason"] == "budget exhausted" for t in trials)
    assert time.monotonic() - start < 45  # start-up and SIGKILL escalation, on a loaded machine


def test_ctrl_c_stops_trials_keeps_the_store_and_exits_130(tmp_path):
    proc = subprocess.Popen(
        [*BTTACKLER, "run", "--task", FAULT_TASK, "--method", "random", "--budget", "5m",
         "--results-dir", str(tmp_path), "--name", "r", "--plain", "--task-opt", "behaviour=hang"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    db_path = tmp_path / "r" / "experiment.db"
    _wait_for(lambda: db_path.exists() and _count(db_path, "state='running'") >= 1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    trials = trials_json(tmp_path / "r")["trials"]
    assert trials and all(t["state"] == "stopped" for t in trials)
    assert trials[0]["reason"] == "interrupted by user"
    assert "top" in stdout  # the summary was printed
    assert not shm_segments_of(proc.pid)


def test_resume_after_the_run_process_is_killed(tmp_path):
    proc = subprocess.Popen(
        [*BTTACKLER, "run", "--task", FAULT_TASK, "--method", "tpe", "--budget", "40s",
         "--max-trials", "6", "--results-dir", str(tmp_path), "--name", "r", "--plain",
         "--task-opt", "seconds=0.4"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    db_path = tmp_path / "r" / "experiment.db"
    _wait_for(lambda: db_path.exists() and _count(db_path, "state='finished'") >= 2)
    proc.kill()  # SIGKILL: no cleanup at all in the main process
    proc.wait()
    _wait_for(lambda: not shm_segments_of(proc.pid), timeout=10)
    assert _count(db_path, "state='running'") == 1  # left behind by the dead process
    out = bt("run", "--resume", str(tmp_path / "r"), "--plain")
    assert out.returncode == 0, out.stdout + out.stderr
    trials = trials_json(tmp_path / "r")["trials"]
    states = [t["state"] for t in trials]
    assert states.count("interrupted") == 1
    assert states.count("finished") == 6
    retried = [t for t in trials if t["retry_of"] is not None]
    interrupted = next(t for t in trials if t["state"] == "interrupted")
    assert retried and retried[0]["retry_of"] == interrupted["id"]
    assert retried[0]["params"] == interrupted["params"]
    assert retried[0]["started"] > interrupted["started"]  # the run clock continued


def shm_segments_of(pid: int) -> set[str]:
    return {n for n in shm_segments() if n.startswith(f"bttackler-{pid}-")}


def _count(db_path: Path, where: str) -> int:
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute(f"SELECT COUNT(*) FROM trials WHERE {where}").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_a_broken_task_stops_the_run_after_its_first_trials_fail(tmp_path):
    start = time.monotonic()
    out = run_fault_task(tmp_path, "--budget", "5m", "--task-opt", "behaviour=raise")
    assert out.returncode == 1, out.stdout + out.stderr
    assert time.monotonic() - start < 60  # not the 5-minute budget
    error = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "Traceback" not in out.stderr
    assert "the first 3 trials all failed; trial 1: raised ValueError: bad value" in error[0]
    assert f"see {tmp_path / 'r' / 'trials' / '1.log'}" in error[0]
    trials = trials_json(tmp_path / "r")["trials"]
    assert [t["state"] for t in trials] == ["failed"] * 3


def test_a_run_whose_every_trial_failed_never_exits_0(tmp_path):
    out = run_fault_task(
        tmp_path, "--budget", "60s", "--max-trials", "2", "--task-opt", "behaviour=noreport"
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert (
        "error: every trial failed: ended without reporting score (it reported: nothing)"
        in out.stderr
    )


def test_one_good_trial_turns_fail_fast_off(tmp_path):
    out = run_fault_task(
        tmp_path, "--budget", "60s", "--max-trials", "5", "--task-opt",
        "sequence=ok,raise,raise,raise,raise",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(trials_json(tmp_path / "r")["trials"]) == 5


def test_trials_in_a_pipe_print_one_plain_line_per_trial(tmp_path):
    out = run_fault_task(tmp_path, "--budget", "60s", "--max-trials", "3")
    assert out.returncode == 0, out.stdout + out.stderr
    listing = bt("trials", str(tmp_path / "r"))  # stdout is a pipe here
    lines = listing.stdout.splitlines()
    assert lines[0].startswith("# r: 3 trials") and lines[1].split("\t")[0] == "id"
    assert len(lines) == 2 + 3 and "│" not in listing.stdout
    params = lines[2].split("\t")[-1]
    assert params.startswith("x=") and len(params) <= len("x=0.1234")  # rounded, not raw JSON
    here = subprocess.run(
        [*BTTACKLER, "trials", ".", "--json"], capture_output=True, text=True,
        cwd=tmp_path / "r", timeout=60,
    )  # fmt: skip
    assert json.loads(here.stdout)["run"] == "r"


def test_a_run_piped_into_head_keeps_running_and_leaves_a_consistent_store(tmp_path):
    command = " ".join(
        [*BTTACKLER, "run", "--task", FAULT_TASK, "--method", "random", "--budget", "60s",
         "--max-trials", "4", "--results-dir", str(tmp_path), "--name", "r", "--plain",
         "--task-opt", "seconds=0.3"]
    )  # fmt: skip
    shell = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{command} | head -n 1"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert shell.stdout.startswith("run "), shell.stdout + shell.stderr
    assert "Traceback" not in shell.stderr and "BrokenPipe" not in shell.stderr
    states = [t["state"] for t in trials_json(tmp_path / "r")["trials"]]
    assert states == ["finished"] * 4  # the run went on to its end with its output dropped


def test_a_task_that_gives_diagnosis_nothing_gets_warned_once(tmp_path):
    task = tmp_path / "blind_task.py"
    task.write_text(
        "OBJECTIVE = 'val_acc'\nMODE = 'max'\nMAX_EPOCHS = 2\n"
        "def run(params, trial):\n"
        "    for epoch in range(MAX_EPOCHS):\n"
        "        trial.report(epoch, val_acc=params['x'] + 0.1 * epoch)\n"
    )
    space = tmp_path / "space.yaml"
    space.write_text("x: {_type: uniform, _value: [0, 1]}\nlr_typo: {_type: choice, _value: [1]}\n")
    out = bt(
        "run", "--task", str(task), "--space", str(space), "--method", "random",
        "--budget", "60s", "--max-trials", "3", "--results-dir", str(tmp_path), "--name", "r",
        "--plain",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    watch = [ln for ln in out.stdout.splitlines() if "trial.watch(model)" in ln]
    loss = [ln for ln in out.stdout.splitlines() if "does not report train_loss" in ln]
    unread = [ln for ln in out.stdout.splitlines() if "never read search-space" in ln]
    assert len(watch) == 2 and len(loss) == 2  # once in the log, once in the summary
    assert len(unread) == 2 and "parameter(s) lr_typo in 3 trials" in unread[0]
    db = sqlite3.connect(tmp_path / "r" / "experiment.db")
    stored = json.loads(db.execute("SELECT value FROM meta WHERE key='warnings'").fetchone()[0])
    assert len(stored) == 3 and stored[0].startswith("warning: no per-layer statistics")


def test_grid_runs_every_combination_once_then_ends_and_resume_adds_none(tmp_path):
    space = str(ROOT / "tests" / "fixtures" / "grid_space.yaml")
    out = bt("run", "--task", FAULT_TASK, "--space", space, "--method", "grid",
             "--workers", "2", "--budget", "60s", "--results-dir", str(tmp_path),
             "--name", "g", "--plain")  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "stopping: search exhausted: all 5 combinations of the grid" in out.stdout
    xs = [t["params"]["x"] for t in trials_json(tmp_path / "g")["trials"]]
    assert sorted(xs) == [0, 0.25, 0.5, 0.75, 1]
    again = bt("run", "--resume", str(tmp_path / "g"), "--plain")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(trials_json(tmp_path / "g")["trials"]) == 5


def test_grid_refuses_a_range_without_steps_in_one_line(tmp_path):
    out = bt("run", "--task", FAULT_TASK, "--method", "grid", "--results-dir", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: --method grid: parameter 'x' is uniform without steps; use quniform with a q, "
        "or give it grid_points: N"
    ]


def test_avoid_bad_skips_predicted_bad_configurations_and_lists_why(tmp_path):
    task = str(ROOT / "tests" / "fixtures" / "diagnosis_task.py")
    space = str(ROOT / "tests" / "fixtures" / "behaviour_space.yaml")
    config = tmp_path / "avoid.toml"  # a short search: the model may skip from 12 outcomes
    config.write_text("[avoid]\nmin_trials = 12\n")
    out = bt("run", "--task", task, "--space", space, "--method", "random", "--avoid-bad",
             "--config", str(config),
             "--max-trials", "24", "--workers", "2", "--seed", "3", "--task-opt",
             "epoch_seconds=0.02", "--results-dir", str(tmp_path), "--name", "a", "--plain",
             timeout=180)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    trials = trials_json(tmp_path / "a")["trials"]
    skipped = [t for t in trials if t["state"] == "skipped"]
    ran = [t for t in trials if t["state"] != "skipped"]
    assert len(ran) == 24 and skipped  # skipped ones never count towards --max-trials
    for t in skipped:
        assert t["reason"].startswith("avoid-bad: P(bad) ") and t["epochs"] == 0
    broken = sum(t["params"]["behaviour"] != "healthy" for t in skipped)
    assert broken >= 0.8 * len(skipped)  # the model learned which behaviours break training
    assert f"trial {skipped[0]['id']} skipped (avoid-bad: P(bad)" in out.stdout
    # fewer bad trials started once the model knew: the last 12 that ran against the first 12
    first, last = ran[:12], ran[12:]
    bad = lambda ts: sum(t["params"]["behaviour"] != "healthy" for t in ts)  # noqa: E731
    assert bad(last) < bad(first)
    # A second search of the space starts from what the first one learned: it skips at once.
    out = bt("run", "--task", task, "--space", space, "--method", "random", "--avoid-learn-from",
             str(tmp_path / "a"), "--max-trials", "6", "--workers", "2", "--seed", "4",
             "--config", str(config),
             "--task-opt", "epoch_seconds=0.02", "--results-dir", str(tmp_path), "--name", "b",
             "--plain", timeout=180)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    second = trials_json(tmp_path / "b")["trials"]
    reasons = [t["reason"] for t in second if t["state"] == "skipped"]
    assert reasons  # skipped before six trials of its own ended: nothing learned in this run
    model = int(reasons[0].split("from a model of ")[1].split()[0])
    assert model >= 24  # the first run's 24 outcomes (and this run's so far)
    out = bt("run", "--task", task, "--space", space, "--avoid-learn-from", str(tmp_path / "x"),
             "--results-dir", str(tmp_path), "--name", "c", "--plain")  # fmt: skip
    assert out.returncode == 2 and not (tmp_path / "c").exists()
    assert out.stderr.strip().count("\n") == 0 and "is not a bttackler run" in out.stderr
