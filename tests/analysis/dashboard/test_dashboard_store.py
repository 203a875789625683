"""The dashboard's reads and bad input, without a browser: the read-only store, the trial
document against the indicators' own arithmetic and the run's config.toml, the command's
one-line errors, and ``report --trial``'s figures. The run is synthetic (written by the real
store, no training): benchmarks/dashboard_load.py's generator."""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import json
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bttackler.analysis.dashboard import data
from bttackler.core.errors import BttacklerError
from bttackler.core.history import EpochRecord
from bttackler.core.objective import CountRule
from bttackler.core.store import ReadOnlyStore, Store
from bttackler.diagnosis.indicators import adjacent_gradient_ratios, median_gradient_ratio

ROOT = Path(__file__).resolve().parents[3]
BTTACKLER = [sys.executable, "-m", "bttackler.cli"]


def _generator():
    spec = importlib.util.spec_from_file_location(
        "dashboard_load", ROOT / "benchmarks" / "dashboard_load.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generator().make_run(tmp_path_factory.mktemp("dash") / "synthetic", trials=30)


def digest(run_dir: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.iterdir())
        if p.name.startswith(Store.FILENAME)
    }


def bt(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BTTACKLER, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def test_reads_change_nothing_and_writes_are_refused(run: Path) -> None:
    before = digest(run)
    store = ReadOnlyStore.open(run)
    try:
        with store.snapshot():
            assert len(store.trials()) == 30
        assert not hasattr(store, "set_meta")  # no writer on a reader
        with pytest.raises(sqlite3.OperationalError):  # and SQLite refuses a write anyway
            store._db.execute("INSERT INTO meta VALUES ('task', '\"changed\"')")
    finally:
        store.close()
    data.trial_doc(run, 3, CountRule.LAST)
    assert digest(run) == before  # no byte changed, and no -wal/-shm left beside it


def test_the_trial_document_uses_the_indicators_arithmetic(run: Path) -> None:
    doc = data.trial_doc(run, 1, CountRule.LAST)
    store = ReadOnlyStore.open(run)
    try:
        epochs, stats = store.epochs(1), store.layer_stats(1)
    finally:
        store.close()
    assert doc["epochs"] == list(range(1, len(epochs) + 1))  # counted from 1
    assert doc["curves"]["val_acc"] == [m["val_acc"] for _, _, m in epochs]
    first = EpochRecord.from_rows(
        0, {}, [(k, i, n, v) for e, k, i, n, v in stats if e == epochs[0][0]]
    )
    assert [s[0] for s in doc["grad_ratios"]["series"]] == pytest.approx(
        adjacent_gradient_ratios(first.grads)
    )
    assert doc["grad_ratios"]["median"][0] == pytest.approx(median_gradient_ratio(first.grads))
    assert doc["grad_abs_mean"]["layers"] == ["layers.0", "layers.2", "layers.4", "layers.6"]
    assert doc["inactivity"]["measure"] == "inactive ratio"
    assert len(doc["inactivity"]["layers"]) == 3
    assert doc["thresholds"]["EAG"]["upper_bound"] == 10.0  # no config.toml: the defaults


def test_the_bounds_come_from_the_runs_config(run: Path) -> None:
    (run / "config.toml").write_text(
        '[indicators]\nenabled = ["ERG", "LAR"]\n[indicators.EAG]\nupper_bound = 5.0\n'
        "[indicators.LAR]\nthreshold = 0.9\n"
    )
    try:
        th = data.trial_doc(run, 2, CountRule.LAST)["thresholds"]
    finally:
        (run / "config.toml").unlink()
    assert th["EAG"] == {"upper_bound": 5.0, "enabled": False}
    assert th["ERG"] == {"lower_bound": 0.02, "enabled": True}
    assert th["LAR"]["threshold"] == 0.9


def test_a_terminated_trial_carries_its_verdict(run: Path) -> None:
    listing = data.run_doc("synthetic", data.read_run(run), CountRule.LAST)
    terminated = [t for t in listing["trials"] if t["state"] == "terminated"]
    assert terminated and len(listing["trials"]) == 30
    doc = data.trial_doc(run, terminated[0]["id"], CountRule.LAST)
    assert doc["verdict"]["indicator"] == terminated[0]["indicator"]
    assert doc["verdict"]["epoch"] == terminated[0]["verdict_epoch"] == doc["epochs"][-1]
    assert doc["verdict"]["values"] == {"median_ratio": 0.01}
    with pytest.raises(BttacklerError, match="no trial 999"):
        data.trial_doc(run, 999, CountRule.LAST)


def test_report_trial_writes_the_figures_and_errors_in_one_line(run: Path) -> None:
    before = digest(run)
    out = bt("report", str(run), "--trial", "2")
    assert out.returncode == 0, out.stderr
    for name in ("curves", "gradients", "gradient-ratios", "inactive-ratios"):
        png = run / f"trial-2-{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    bad = bt("report", str(run), "--trial", "999")
    assert bad.returncode == 2 and bad.stderr.strip() == "error: synthetic has no trial 999"
    assert digest(run) == before


def test_not_a_run_and_a_port_in_use_are_one_error_line(run: Path, tmp_path: Path) -> None:
    out = bt("dashboard", str(tmp_path / "missing"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr.startswith("error: ") and "does not exist" in out.stderr
    (tmp_path / "notes.txt").write_text("not a run")
    out = bt("dashboard", str(tmp_path))
    assert out.returncode == 2 and "neither a run nor a folder of runs" in out.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = bt("dashboard", str(run), "--port", str(port))
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert f"error: port {port} on 127.0.0.1 is in use" in out.stderr


def test_a_store_locked_by_a_writer_is_an_error_and_stays_unchanged(
    run: Path, tmp_path: Path
) -> None:
    """A store in rollback-journal mode whose writer holds its lock (mid-commit): no read is
    possible; the dashboard says so in one line within its busy timeout, and writes nothing."""
    copy = tmp_path / "locked"
    copy.mkdir()
    (copy / Store.FILENAME).write_bytes((run / Store.FILENAME).read_bytes())
    writer = sqlite3.connect(copy / Store.FILENAME, isolation_level=None)
    writer.execute("PRAGMA journal_mode=DELETE")
    # (no read of the file in this process while the lock is held: closing any descriptor
    # of it would drop this process's POSIX locks, the writer's included)
    before = hashlib.sha256((copy / Store.FILENAME).read_bytes()).hexdigest()
    writer.execute("BEGIN EXCLUSIVE")
    try:
        began = time.monotonic()
        out = bt("dashboard", str(copy), "--port", "0", timeout=20)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.startswith("error: ") and "database is locked" in out.stderr
    assert out.stderr.count("\n") == 1 and time.monotonic() - began < 20
    assert hashlib.sha256((copy / Store.FILENAME).read_bytes()).hexdigest() == before


def test_a_wider_host_warns_and_the_endpoints_answer(run: Path) -> None:
    second = run.parent / "second"
    if not second.exists():
        _generator().make_run(second, trials=5, seed=1)
    proc = subprocess.Popen(
        [*BTTACKLER, "dashboard", str(run.parent), "--host", "0.0.0.0", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert line.startswith("dashboard: http://127.0.0.1:"), line
        warning = proc.stderr.readline()
        assert warning.startswith("warning: --host 0.0.0.0"), warning
        port = int(line.split("127.0.0.1:")[1].split("/")[0])

        def get(path: str) -> tuple[int, dict]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, json.loads(response.read())

        status, runs = get("/api/runs")
        assert status == 200 and [r["name"] for r in runs["runs"]] == ["second", "synthetic"]
        assert runs["runs"][1]["state"] == "completed" and runs["runs"][1]["trials"] == 30
        status, both = get("/api/compare?run=synthetic&run=second")
        series = both["figures"]["trials_over_time"]["series"]
        assert status == 200 and [s["run"] for s in series] == ["synthetic", "second"]
        assert series[1]["points"][-1][1] == 5
        assert get("/api/run?run=../../etc")[0] == 404  # keys only, never a path
        assert get("/api/trial?run=synthetic&trial=999")[0] == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)
