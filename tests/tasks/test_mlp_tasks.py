"""The wide-space MLP tasks (fashionmlp, diabetesmlp) and digits' wide space: short real
trials, the spaces' width, and fashionmlp's one-line error when its data is missing."""

from __future__ import annotations

import math
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from bttackler.tasks import diabetesmlp, fashionmlp
from bttackler.tasks._optimizers import OPTIMIZERS
from bttackler.tasks.data import download, fashion_mnist
from bttackler.tasks.models import ACTIVATIONS, MLP
from test_loaders import write_fashion

from bttackler.core.errors import BttacklerError

REPO = Path(__file__).resolve().parents[2]
PARAMS = {
    "lr": 0.003,
    "weight_decay": 1e-5,
    "init_scale": 1.0,
    "dropout": 0.1,
    "depth": 2,
    "hidden": 32,
    "activation": "relu",
    "optimizer": "adam",
    "batch_size": 32,
    "batch_norm": False,
}


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No real cache and no network; one torch thread; fresh per-process data caches."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(download.ENV_DATA_DIR, raising=False)

    def offline(*args: Any, **kwargs: Any) -> Any:
        raise urllib.error.URLError("network touched (test)")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    fashionmlp.load_split.cache_clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    fashionmlp.load_split.cache_clear()


class FakeTrial:
    def __init__(self, data_dir: Path | None, options: dict[str, str]) -> None:
        self.options = options
        self.data_dir = str(data_dir) if data_dir else None
        self.seed = 3
        self.watched: list[torch.nn.Module] = []
        self.reports: list[tuple[int, dict[str, float]]] = []

    def watch(self, model: torch.nn.Module) -> None:
        self.watched.append(model)

    def report(self, epoch: int, **metrics: float) -> None:
        self.reports.append((epoch, metrics))


@pytest.mark.parametrize(
    ("module", "space_file"),
    [(fashionmlp, None), (diabetesmlp, None), (None, "search_spaces/digits-wide.yaml")],
)
def test_spaces_are_as_wide_as_the_papers(module: Any, space_file: str | None) -> None:
    space = yaml.safe_load((REPO / (space_file or module.DEFAULT_SPACE)).read_text())
    low, high = space["lr"]["_value"]
    assert space["lr"]["_type"] == "loguniform" and math.log10(high / low) >= 4
    assert set(space["optimizer"]["_value"]) == set(OPTIMIZERS)
    assert set(space["activation"]["_value"]) == set(ACTIVATIONS)
    assert len(space["batch_size"]["_value"]) >= 5
    if module is not None:
        assert space["init_scale"]["_type"] == "loguniform"
        assert space["depth"]["_value"][1] - space["depth"]["_value"][0] >= 4
        for text in (module.DESCRIPTION, module.DATA_SOURCE):
            assert text and "\n" not in text
        assert "epochs" in module.OPTIONS


def test_module_constants() -> None:
    assert (fashionmlp.OBJECTIVE, fashionmlp.MODE, fashionmlp.MAX_EPOCHS) == ("val_acc", "max", 10)
    assert (diabetesmlp.OBJECTIVE, diabetesmlp.MODE) == ("val_mse", "min")


def test_mlp_init_scale_scales_the_default_weights() -> None:
    kwargs = dict(in_features=5, hidden=7, depth=3, outputs=2, activation="tanh",
                  batch_norm=True, dropout=0.0)  # fmt: skip
    torch.manual_seed(0)
    one = MLP(**kwargs)  # type: ignore[arg-type]
    torch.manual_seed(0)
    tiny = MLP(**kwargs, init_scale=0.01)  # type: ignore[arg-type]
    for a, b in zip(one.layers, tiny.layers):
        assert torch.allclose(a.weight * 0.01, b.weight)
    assert one(torch.zeros(4, 5)).shape == (4, 2)
    with pytest.raises(ValueError, match="init_scale"):
        MLP(**kwargs, init_scale=0.0)  # type: ignore[arg-type]


def test_diabetes_short_real_trial_learns() -> None:
    train, val = diabetesmlp.load_split()
    assert (len(train), len(val)) == (354, 88)
    assert abs(float(train.y.mean())) < 1e-5 and abs(float(train.y.std()) - 1) < 0.01
    trial = FakeTrial(None, {"epochs": "8"})
    diabetesmlp.run(dict(PARAMS), trial)
    assert len(trial.watched) == 1
    assert [e for e, _ in trial.reports] == list(range(8))
    assert all(set(m) == {"train_loss", "val_mse"} for _, m in trial.reports)
    assert trial.reports[-1][1]["val_mse"] < 0.8  # the mean scores about 1.0


def test_diabetes_diverged_trial_reports_nan_and_goes_on() -> None:
    trial = FakeTrial(None, {"epochs": "3"})
    diabetesmlp.run({**PARAMS, "optimizer": "sgd", "lr": 1.0, "init_scale": 3.0}, trial)
    assert len(trial.reports) == 3
    last = trial.reports[-1][1]["val_mse"]
    assert math.isnan(last) or last > 1.0


def test_fashion_trial_on_files_in_the_data_dir(tmp_path: Path) -> None:
    write_fashion(tmp_path / fashion_mnist.SUBDIR, n_train=80)
    trial = FakeTrial(tmp_path, {"epochs": "2", "train_size": "40", "val_size": "16"})
    fashionmlp.run(dict(PARAMS), trial)
    assert [e for e, _ in trial.reports] == [0, 1]
    assert set(trial.reports[0][1]) == {"train_loss", "train_acc", "val_loss", "val_acc"}
    train, val = fashionmlp.load_split(str(tmp_path), 40, 16)
    assert train.x.shape == (40, 784) and val.x.shape == (16, 784)


@pytest.mark.skipif(
    not (fashion_mnist.DEBIAN_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_fashion_short_real_trial_on_debians_data() -> None:
    trial = FakeTrial(None, {"epochs": "2", "train_size": "1000", "val_size": "500"})
    fashionmlp.run(dict(PARAMS), trial)
    accs = [m["val_acc"] for _, m in trial.reports]
    assert len(accs) == 2 and accs[-1] > 0.5  # chance is 0.1


def test_fashion_missing_data_is_one_line_and_never_downloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "no-debian")
    with pytest.raises(BttacklerError) as exc:
        fashionmlp.prepare({}, tmp_path / "data")
    message = str(exc.value)
    assert "\n" not in message and "network touched" not in message
    assert "dataset-fashion-mnist" in message and str(tmp_path / "no-debian") in message
    assert str(tmp_path / "data" / fashion_mnist.SUBDIR) in message
    with pytest.raises(BttacklerError, match="unknown --task-opt"):
        fashionmlp.prepare({"trainsize": "5"}, tmp_path)
