"""Dashboard page load on a synthetic 1,000-trial run: the HTML, its script and styles, and
the JSON the first view needs (the runs list and the run's page: every trial and the figures),
through the real HTTP server, over a real socket. Target: under 1 s.

The run is written by the real :class:`~bttackler.core.store.Store` (the search's writer):
1,000 trials of 12 epochs on a 4-layer network (weights, gradients, activations every epoch:
132,000 per-layer rows), a third of them terminated with a verdict. Prints the cold load (a
fresh server: nothing cached) and the median of five warm loads, and one trial's page.

    .venv/bin/python benchmarks/dashboard_load.py [--trials 1000]
"""

from __future__ import annotations

import argparse
import http.client
import math
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bttackler.core.history import STAT_NAMES
from bttackler.core.objective import CountRule
from bttackler.core.store import Store
from bttackler.core.trial_state import TrialState

INDICATORS = ("ERG", "EAG", "LAR", "AGV", "NMG", "VGM")


def make_run(run_dir: Path, trials: int = 1000, epochs: int = 12, layers: int = 4,
             seed: int = 0) -> Path:  # fmt: skip
    """A finished run of ``trials`` synthetic trials written by the real store."""
    rng = random.Random(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    store = Store.open(run_dir)
    store.set_meta(
        task="synthetic", task_path="-", method="random", objective="val_acc",
        mode="max", max_epochs=epochs, chance_loss=math.log(10), budget=3600.0,
        max_trials=None, seed=seed, created=time.time(), elapsed=3600.0, diagnosis=True,
        trace=True, etr=None, space="-", count="last",
    )  # fmt: skip
    store.begin_session(0.0)
    now = 0.0
    for _ in range(trials):
        started = now
        trial_id = store.add_trial({"lr": 10 ** rng.uniform(-5, 0)}, slot=0, started=started)
        bad = rng.random() < 1 / 3
        stop_at = rng.randint(1, epochs // 2) if bad else epochs
        loss, acc = 2.3, 0.1
        for epoch in range(stop_at):
            now += 0.3
            loss *= rng.uniform(0.75, 1.0)
            acc = min(0.99, acc + rng.uniform(0.0, 0.1))
            store.add_epoch(trial_id, epoch, now, {"train_loss": loss, "val_acc": acc})
            rows = []
            for i in range(layers):
                grad = [rng.gauss(0, 1e-3) for _ in STAT_NAMES]
                grad[STAT_NAMES.index("abs_mean")] = 1e-3 * 0.5**i
                rows.append(("grad", 2 * i, f"layers.{2 * i}", grad))
                rows.append(
                    ("weight", 2 * i, f"layers.{2 * i}", [rng.gauss(0, 0.1) for _ in STAT_NAMES])
                )
                if i < layers - 1:
                    rows.append(("activation", 2 * i + 1, f"layers.{2 * i + 1}", [rng.random()]))
            store.add_layer_stats(trial_id, epoch, rows)
            store.update_progress(trial_id, epoch + 1, acc, acc)
        if bad:
            name = rng.choice(INDICATORS)
            rule = f"median gradient ratio {rng.uniform(0, 0.02):.4g} < 0.02"
            # verdicts are dated by the epoch count, from 1: the trial's stop_at-th epoch
            store.set_verdict(trial_id, name, rule, stop_at)
            store.add_verdict(trial_id, stop_at, name, rule, {"median_ratio": 0.01},
                              benign=False, acted=True, time_=now)  # fmt: skip
            store.end_trial(trial_id, TrialState.TERMINATED, f"{name}: {rule}", now)
        else:
            store.end_trial(trial_id, TrialState.FINISHED, None, now)
        store.commit()
    store.end_session("completed")
    store.close()
    return run_dir


def get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 200, (path, response.status, body[:200])
    return len(body)


FIRST_VIEW = (
    "/",
    "/static/app.css",
    "/static/uPlot.min.css",
    "/static/uPlot.iife.min.js",
    "/static/app.js",
    "/api/runs",
)


def page_load(port: int, key: str) -> tuple[float, int]:
    began = time.perf_counter()
    size = sum(get(port, p) for p in (*FIRST_VIEW, f"/api/run?run={key}"))
    return time.perf_counter() - began, size


def serve(run_dir: Path) -> tuple[object, int]:
    from bttackler.analysis.dashboard.server import start

    server = start([run_dir], "127.0.0.1", 0, CountRule.LAST)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


def browser_load(port: int, key: str, trials: int, tmp: Path) -> float | None:
    """Seconds from navigation start to the run page drawn (every row, the figures), as the
    page itself measures it (``performance.now()`` when its first view is on screen); ``None``
    without Chromium. Uses the tests' DevTools driver."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/analysis/dashboard"))
    try:
        from cdp_browser import Browser, find_chromium
    except ImportError:
        return None
    executable = find_chromium()
    if executable is None:
        return None
    browser = Browser(executable, tmp / "profile")
    try:
        browser.navigate(f"http://127.0.0.1:{port}/#/run/{key}")  # a warm-up: fonts, caches
        browser.wait("window.firstViewMs !== undefined", timeout=30)
        browser.navigate(f"http://127.0.0.1:{port}/?again#/run/{key}")
        browser.wait(f"document.querySelectorAll('#trials tbody tr').length === {trials} && "
                     "window.firstViewMs !== undefined", timeout=30)  # fmt: skip
        return float(browser.eval("window.firstViewMs")) / 1000
    finally:
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        run_dir = make_run(Path(tmp) / "synthetic", args.trials)
        size_mb = (run_dir / Store.FILENAME).stat().st_size / 1e6
        print(f"synthetic run: {args.trials} trials, {size_mb:.1f} MB store, "
              f"written in {time.perf_counter() - began:.1f} s")  # fmt: skip
        server, port = serve(run_dir)  # start() reads the store once to check it
        server.shutdown()  # type: ignore[attr-defined]
        server.server_close()  # type: ignore[attr-defined]
        server, port = serve(run_dir)
        cold, size = page_load(port, run_dir.name)  # the page and its first view: nothing cached
        warm = statistics.median(page_load(port, run_dir.name)[0] for _ in range(5))
        t0 = time.perf_counter()
        get(port, f"/api/trial?run={run_dir.name}&trial={args.trials // 2}")
        trial = time.perf_counter() - t0
        in_browser = browser_load(port, run_dir.name, args.trials, Path(tmp))
        server.shutdown()  # type: ignore[attr-defined]
        verdict = "under" if cold < 1.0 else "OVER"
        print(f"page load, {size / 1e3:.0f} kB (HTML, script, styles, runs list, run page with "
              f"{args.trials} trials): cold {cold * 1000:.0f} ms, warm median "
              f"{warm * 1000:.0f} ms ({verdict} the 1 s target)")  # fmt: skip
        print(f"one trial's page (curves, per-layer statistics): {trial * 1000:.0f} ms")
        if in_browser is None:
            print("in a browser: skipped (no Chromium; `make test` installs Debian's chromium)")
        else:
            verdict = "under" if in_browser < 1.0 else "OVER"
            print(f"in headless Chromium, navigation to the run page drawn ({args.trials} rows, "
                  f"figures): {in_browser * 1000:.0f} ms ({verdict} the 1 s target)")  # fmt: skip


if __name__ == "__main__":
    main()
