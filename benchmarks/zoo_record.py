"""Record the zoo: every recipe of ``benchmarks/zoo/recipes.py`` trained once to its end.

Each training is its own run (``bttackler run --no-diagnosis --max-trials 1``), so it is
stored in the run format (``replay``, ``report``, ``trials`` and ``dashboard`` read it), with
its own planned epochs, and judged without a cohort (the guard needs ten trials: the zoo
judges the rules alone). Runs go to ``results/zoo/<recipe>`` (``--out``); a recipe whose run
ended is kept (cached), a run left half-way is recorded again. ``make zoo`` calls this.

    python benchmarks/zoo_record.py [--out results/zoo] [--jobs 2] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "benchmarks" / "zoo"
sys.path.insert(0, str(ZOO))

from recipes import RECIPES, Recipe  # noqa: E402


def task_file(recipe: Recipe) -> Path:
    return ZOO / ("zoo_regress.py" if recipe.dataset == "diabetes" else "zoo_classify.py")


def recorded(run_dir: Path) -> bool:
    """The run ended with its one trial ended (finished or failed): nothing to redo."""
    db = run_dir / "experiment.db"
    if not db.is_file():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            states = [row[0] for row in con.execute("SELECT state FROM trials")]
    except sqlite3.Error:
        return False
    return states in (["finished"], ["failed"])


def record(recipe: Recipe, out: Path, seed: int) -> tuple[str, str, float]:
    run_dir = out / recipe.name
    if recorded(run_dir):
        return recipe.name, "cached", 0.0
    if run_dir.exists():
        shutil.rmtree(run_dir)
    spaces = out / ".spaces"
    spaces.mkdir(parents=True, exist_ok=True)
    space = spaces / f"{recipe.name}.json"
    space.write_text(json.dumps({"recipe": {"_type": "choice", "_value": [recipe.name]}}))
    cmd = [
        sys.executable, "-m", "bttackler.cli", "run", "--task", str(task_file(recipe)),
        "--space", str(space), "--method", "random", "--max-trials", "1", "--budget", "30m",
        "--workers", "1", "--no-diagnosis", "--plain", "--seed", str(seed),
        "--name", recipe.name, "--results-dir", str(out), "--fail-fast", "0",
        "--task-opt", f"epochs={recipe.epochs}", "--task-opt", f"cache={out / '.cache'}",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    took = time.monotonic() - start
    if done.returncode not in (0, 1):
        return recipe.name, f"error (exit {done.returncode}): {done.stderr.strip()[-300:]}", took
    return recipe.name, "recorded" if recorded(run_dir) else "not recorded", took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "zoo")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (one CPU each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", help="recipe names (default: all)")
    args = parser.parse_args(argv)
    names = args.only or list(RECIPES)
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe(s): {', '.join(unknown)}")
    out = args.out.resolve()
    # the fine-tunes' backbone and the Fashion-MNIST block are made once, before the runs
    # race to make them
    if any(RECIPES[n].dataset == "fashion" for n in names):
        import zoo_lib

        zoo_lib.CACHE = out / ".cache"
        zoo_lib.fashion()
        zoo_lib.backbone()
    start = time.monotonic()
    failures = 0
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        jobs = [pool.submit(record, RECIPES[n], out, args.seed) for n in names]
        for i, job in enumerate(jobs, 1):
            name, status, took = job.result()
            failures += status.startswith(("error", "not"))
            print(f"[{i}/{len(jobs)}] {name}: {status}" + (f" ({took:.0f} s)" if took else ""),
                  flush=True)  # fmt: skip
    print(f"zoo: {len(names)} trainings in {out} ({time.monotonic() - start:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
