"""The dashboard in a real headless browser (Debian's Chromium over the DevTools protocol),
side by side with a real search: the page opens on the results folder before the run exists,
shows the run and a trial that ends while the page is open, and once the search is over lists
every trial; clicking a terminated trial shows its curves and per-layer views with the
verdict and the bounds. The search's store is checked afterwards (``bttackler trials``, an
integrity check): the dashboard's reads neither blocked nor changed it.

The search: tests/fixtures/diagnosis_task.py with trials cycling dead_relu (LAR at epoch 5),
exploding (EAG at epoch 1) and healthy (12 epochs), 0.3 s an epoch, one worker, 10 s.
A screenshot of the trial page is kept under pytest's tmp dir (its path is printed).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from cdp_browser import Browser, find_chromium

ROOT = Path(__file__).resolve().parents[3]
TASK = ROOT / "tests" / "fixtures" / "diagnosis_task.py"
BTTACKLER = [sys.executable, "-m", "bttackler.cli"]

pytestmark = pytest.mark.slow


def test_the_dashboard_beside_a_running_search(side_by_side) -> None:
    """One test in three steps (they share one search, and xdist may split a module's tests
    over workers): a trial ends on the open page; the search is intact; the recorded run."""
    check_a_trial_ends_on_the_open_page(side_by_side)
    trials = check_the_search_beside_the_dashboard_is_intact(side_by_side)
    check_the_recorded_run(side_by_side, trials)


@pytest.fixture
def chromium() -> str:
    pytest.importorskip("websocket", reason="websocket-client is not installed (requirements.lock)")
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium: `make test` installs Debian's chromium when run as root")
    return path


@pytest.fixture
def side_by_side(tmp_path: Path, chromium: str):
    root = tmp_path
    results = root / "results"
    results.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    dash = subprocess.Popen(
        [*BTTACKLER, "dashboard", str(results), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    search = subprocess.Popen(
        [*BTTACKLER, "run", "--task", str(TASK), "--method", "random", "--budget", "10s",
         "--workers", "1", "--results-dir", str(results), "--name", "live", "--plain",
         "--task-opt", "sequence=dead_relu,exploding,healthy", "--task-opt", "epoch_seconds=0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    browser = None
    try:
        assert dash.stdout is not None
        line = dash.stdout.readline()
        assert line.startswith("dashboard: http://127.0.0.1:"), line + dash.stderr.read()
        url = line.split()[1]
        browser = Browser(chromium, root / "profile")
        yield SimpleNamespace(url=url, run=results / "live", search=search, browser=browser,
                              shots=root)  # fmt: skip
    finally:
        if browser is not None:
            browser.close()
        if search.poll() is None:
            search.terminate()
            search.wait(timeout=30)
        dash.terminate()
        dash.wait(timeout=10)


def rows(browser: Browser) -> dict[str, str]:
    return browser.eval(
        "Object.fromEntries([...document.querySelectorAll('#trials tbody tr')]"
        ".map(r => [r.dataset.id, r.dataset.state]))"
    )


def check_a_trial_ends_on_the_open_page(side_by_side) -> None:
    b = side_by_side.browser
    b.navigate(side_by_side.url)
    # the run appears in the list once the search has created it, and is running
    b.wait(
        "[...document.querySelectorAll('#runs tr[data-key=\"live\"] td')]"
        ".some(td => td.textContent === 'running')",
        timeout=30,
        what="the live run",
    )
    b.eval("document.querySelector('#runs a[href=\"#/run/live\"]').click()")
    b.eval("window.sameDocument = true")
    running = b.wait(
        "[...document.querySelectorAll('#trials tbody tr[data-state=\"running\"]')]"
        ".map(r => r.dataset.id)[0]",
        timeout=20,
        what="a running trial",
    )
    ended = b.wait(
        f"(document.querySelector('#trials tr[data-id=\"{running}\"]') || {{}}).dataset"
        "?.state !== 'running' && document.querySelector("
        f"'#trials tr[data-id=\"{running}\"]').dataset.state",
        timeout=20,
        what=f"trial {running} to end on the page",
    )
    assert ended in ("terminated", "finished"), ended
    assert b.eval("window.sameDocument === true")  # updated in place, never reloaded
    assert b.errors == []


def check_the_search_beside_the_dashboard_is_intact(side_by_side) -> list[dict]:
    out, _ = side_by_side.search.communicate(timeout=90)
    assert side_by_side.search.returncode == 0, out
    listing = subprocess.run(
        [*BTTACKLER, "trials", str(side_by_side.run), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    trials = json.loads(listing.stdout)["trials"]
    assert len(trials) >= 3
    assert all(t["state"] in ("finished", "terminated", "stopped") for t in trials), trials
    stoppers = {t["indicator"] for t in trials if t["state"] == "terminated"}
    assert "LAR" in stoppers and stoppers & {"EAG", "TWU"}  # exploding: EAG or TWU, epoch 1
    db = sqlite3.connect(f"file:{side_by_side.run / 'experiment.db'}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT status FROM sessions").fetchall() == [("completed",)]
    finally:
        db.close()
    return trials


def check_the_recorded_run(side_by_side, trials: list[dict]) -> None:
    b = side_by_side.browser
    b.navigate(side_by_side.url.rstrip("/") + "/?again#/run/live")  # a fresh document
    expected = {str(t["id"]): t["state"] for t in trials}
    b.wait(
        f"document.querySelectorAll('#trials tbody tr').length === {len(trials)}",
        what=f"{len(trials)} rows",
    )
    b.wait("document.querySelector('#run-info').textContent.startsWith('completed')")
    assert rows(b) == expected
    # parallel coordinates: a line per trial with a known outcome, the bad ones marked
    known = [t for t in trials if t["state"] in ("finished", "terminated", "failed")]
    assert b.eval("document.querySelector('#parallel').dataset.lines") == str(len(known))
    assert b.eval("document.querySelectorAll('#parallel polyline').length") == len(known)
    problems = [t for t in known if t["indicator"] not in (None, "NMG")]
    assert int(b.eval("document.querySelector('#parallel').dataset.bad")) >= len(problems) > 0
    # filter by state
    b.eval("const s = document.querySelector('#state-filter'); s.value = 'terminated';"
           "s.dispatchEvent(new Event('change'))")  # fmt: skip
    terminated = sum(1 for t in trials if t["state"] == "terminated")
    assert set(rows(b).values()) == {"terminated"} and len(rows(b)) == terminated
    # the dead ReLU: LAR at its fifth epoch, with the activation view and its threshold
    lar = next(t for t in trials if t["indicator"] == "LAR")
    b.eval(f"document.querySelector('#trials tr[data-id=\"{lar['id']}\"]').click()")
    verdict = b.wait("document.querySelector('#verdict')?.innerText", what="the verdict")
    assert verdict.startswith("terminated: LAR at epoch 5") and lar["rule"] in verdict
    charts = ("losses", "objective", "grad", "ratios", "inactive")
    for name in charts:
        b.wait(f"!!document.querySelector('[data-chart=\"{name}\"] canvas')", what=name)
    assert b.eval("document.querySelector('[data-chart=\"inactive\"]').dataset.threshold") == (
        "0.999"
    )
    bounds = json.loads(b.eval("document.querySelector('[data-chart=\"ratios\"]').dataset.bounds"))
    assert bounds == {"EAG": 10, "ERG": 0.02}
    shot = b.screenshot(side_by_side.shots / "dashboard-trial-LAR.png")
    print(f"screenshot: {shot}")
    # the exploding chain: EAG (or TWU: tiny steps beside big weights) at its first epoch
    eag = next(t for t in trials if t["indicator"] in ("EAG", "TWU"))
    b.navigate(side_by_side.url.rstrip("/") + f"/#/run/live/trial/{eag['id']}")
    verdict = b.wait(
        f"document.querySelector('#verdict')?.innerText.includes('{eag['indicator']}') && "
        "document.querySelector('#verdict').innerText",
        what="the verdict of the exploding chain",
    )
    assert eag["rule"] in verdict
    assert b.errors == []
