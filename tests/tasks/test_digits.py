"""The offline default task: its space has the paper's Cifar10CNN shape and a trial reports."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from bttackler.tasks import digits

from bttackler.core.errors import BttacklerError

REPO = Path(__file__).resolve().parents[2]

PARAMS: dict[str, Any] = {
    "lr": 0.003,
    "weight_decay": 1e-4,
    "dropout": 0.2,
    "conv1": 8,
    "conv2": 16,
    "conv3": 16,
    "conv4": 16,
    "hidden": 32,
    "kernel_size": 3,
    "activation": "relu",
    "optimizer": "adam",
    "batch_size": 128,
    "batch_norm": True,
}


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Trials run on one thread (as the runner sets it): far faster on a busy 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class FakeTrial:
    """Records what a task reports; stands in for bttackler.trialside.trial.Trial."""

    def __init__(self, options: dict[str, str] | None = None) -> None:
        self.options = options or {}
        self.device = torch.device("cpu")
        self.data_dir = None
        self.seed = 0
        self.watched: list[torch.nn.Module] = []
        self.reports: list[tuple[int, dict[str, float]]] = []

    def watch(self, model: torch.nn.Module) -> None:
        self.watched.append(model)

    def report(self, epoch: int, **metrics: float) -> None:
        self.reports.append((epoch, metrics))


def test_module_constants() -> None:
    assert digits.OBJECTIVE == "val_acc"
    assert digits.MODE == "max"
    assert digits.MAX_EPOCHS == 20
    assert (REPO / digits.DEFAULT_SPACE).is_file()
    assert digits.DESCRIPTION and "\n" not in digits.DESCRIPTION
    assert digits.DATA_SOURCE and "\n" not in digits.DATA_SOURCE


def test_space_has_cifar10cnn_shape() -> None:
    space = yaml.safe_load((REPO / digits.DEFAULT_SPACE).read_text())
    kinds = {"continuous": 0, "discrete": 0, "categorical": 0}
    for spec in space.values():
        kind = {
            "uniform": "continuous",
            "loguniform": "continuous",
            "randint": "discrete",
            "choice": "categorical",
        }[spec["_type"]]
        kinds[kind] += 1
    assert kinds == {"continuous": 3, "discrete": 5, "categorical": 5}
    assert set(space) == set(PARAMS)
    assert space["lr"]["_value"] == [0.0001, 0.4]
    assert space["batch_norm"]["_value"] == [True, False]


def test_smallest_and_largest_models_build() -> None:
    space = yaml.safe_load((REPO / digits.DEFAULT_SPACE).read_text())
    for pick in (0, -1):
        params = dict(PARAMS)
        for name in ("conv1", "conv2", "conv3", "conv4", "hidden"):
            low, high = space[name]["_value"]
            params[name] = low if pick == 0 else high - 1
        for k in space["kernel_size"]["_value"]:
            params["kernel_size"] = k
            out = digits.build_model(params)(torch.zeros(2, 1, 8, 8))
            assert out.shape == (2, 10)


def test_short_trial_reports_every_metric() -> None:
    trial = FakeTrial({"epochs": "2"})
    digits.run(dict(PARAMS), trial)
    assert len(trial.watched) == 1
    assert [epoch for epoch, _ in trial.reports] == [0, 1]
    for _, metrics in trial.reports:
        assert set(metrics) == {"train_loss", "train_acc", "val_loss", "val_acc"}
        assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    # Two epochs of Adam on digits are far above chance (0.1).
    assert trial.reports[-1][1]["val_acc"] > 0.5


def test_same_seed_same_result() -> None:
    a, b = FakeTrial({"epochs": "1"}), FakeTrial({"epochs": "1"})
    digits.run(dict(PARAMS), a)
    digits.run(dict(PARAMS), b)
    assert a.reports == b.reports


@pytest.mark.parametrize(
    "opts", [{"epochs": "0"}, {"epochs": "21"}, {"epochs": "x"}, {"epoch": "2"}]
)
def test_bad_options_are_one_line_errors(opts: dict[str, str]) -> None:
    with pytest.raises(BttacklerError) as err:
        digits.run(dict(PARAMS), FakeTrial(opts))
    assert "\n" not in str(err.value)


def test_split_is_fixed_stratified_and_standardised() -> None:
    train, val = digits.load_split()
    assert len(train) + len(val) == 1797
    assert 350 <= len(val) <= 370  # 20% of every class
    assert abs(float(train.x.mean())) < 1e-4 and abs(float(train.x.std()) - 1.0) < 1e-3
    counts = torch.bincount(val.y, minlength=10)
    assert int(counts.min()) >= 35  # every class present in proportion
    again, _ = digits.load_split()
    assert torch.equal(train.y, again.y)
