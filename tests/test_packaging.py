"""A wheel (not the editable install the Makefile makes) carries everything a run needs inside
the bttackler package: the defaults file, the built-in tasks and their search spaces."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built as a wheel and unpacked into a folder of its own (dependencies
    come from the running environment)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy: a build in the project would leave build/ behind
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "bttackler.toml"):
        shutil.copy(REPO / name, source / name)
    for package in ("bttackler", "tasks", "search_spaces"):
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(REPO / package, source / package, ignore=ignore)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), "."]
    subprocess.run(build, cwd=source, check=True, capture_output=True, timeout=300)
    (wheel,) = (root / "dist").glob("bttackler-*.whl")
    target = root / "site"
    install = [*pip, "install", "--no-deps", "--target", str(target), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    return target


def _bttackler(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "bttackler.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_wheel_holds_the_defaults_and_the_search_spaces(installed: Path) -> None:
    assert (installed / "bttackler" / "bttackler.toml").is_file()
    assert (installed / "bttackler" / "tasks" / "digits.py").is_file()
    assert not (installed / "tasks").exists()  # no generic top-level package in site-packages
    spaces = {p.name for p in (installed / "bttackler" / "search_spaces").glob("*.yaml")}
    assert {"digits.yaml", "cifar10cnn.yaml", "cifar10lstm.yaml", "ex96trans.yaml"} <= spaces
    static = installed / "bttackler" / "analysis" / "dashboard" / "static"
    assert {"index.html", "app.js", "uPlot.iife.min.js", "uPlot-LICENSE.txt"} <= {
        p.name for p in static.iterdir()
    }  # the dashboard's page and its plotting library, no network needed


def test_a_run_from_the_wheel_outside_the_project(installed: Path, tmp_path: Path) -> None:
    listing = _bttackler(installed, tmp_path, "tasks", "--json")
    assert listing.returncode == 0, listing.stderr
    digits = next(t for t in json.loads(listing.stdout) if t["name"] == "digits")
    assert digits["space"] == "search_spaces/digits.yaml"
    run = _bttackler(
        installed, tmp_path, "run", "--task", "digits", "--method", "random", "--budget", "60s",
        "--max-trials", "1", "--task-opt", "epochs=2", "--plain", "--name", "w",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    trials = _bttackler(installed, tmp_path, "trials", "results/w", "--json")
    assert trials.returncode == 0, trials.stderr
    listed = json.loads(trials.stdout)
    assert listed["task"] == "digits"
    (trial,) = listed["trials"]
    assert trial["state"] in ("finished", "terminated"), trial  # judged, or ran to its end
    code = "import bttackler, sys; print(bttackler.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(installed)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.strip().startswith(str(installed))  # the wheel's copy ran, not ours
