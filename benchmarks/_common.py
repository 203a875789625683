"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The default task (digits) at a typical configuration:
# the middle of tasks/search_spaces/digits.yaml.
DIGITS: dict[str, object] = {
    "lr": 0.003,
    "weight_decay": 1e-4,
    "dropout": 0.3,
    "conv1": 10,
    "conv2": 20,
    "conv3": 24,
    "conv4": 24,
    "hidden": 136,
    "kernel_size": 3,
    "activation": "relu",
    "optimizer": "adam",
    "batch_size": 64,
    "batch_norm": True,
}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, "-m", "bttackler.cli", *args], capture_output=True, text=True, cwd=ROOT
    )
    if out.returncode != 0:
        raise SystemExit(f"bttackler {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out


def describe(name: str, values: list[float], target: float | None = None, unit: str = "s") -> None:
    if not values:
        print(f"{name}: no samples")
        return
    med, worst = statistics.median(values), max(values)
    line = f"{name}: n={len(values)} median={med:.4f}{unit} max={worst:.4f}{unit}"
    if target is not None:
        line += f"  target median <= {target}{unit}: ratio {med / target:.2f} "
        line += "(OK)" if med <= target else "(MISSED)"
    print(line)
