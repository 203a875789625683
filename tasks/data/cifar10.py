"""CIFAR-10 from the official python-format archive, read with numpy and pickle only.

The archive ``cifar-10-python.tar.gz`` holds ``cifar-10-batches-py/`` with five training
batches (``data_batch_1`` .. ``data_batch_5``) and ``test_batch``: pickled dicts whose
``b"data"`` is a (10000, 3072) uint8 array (1024 red, 1024 green, 1024 blue values per image,
row-major) and ``b"labels"`` a list of ints 0..9.

An extracted ``cifar-10-batches-py/`` in a data directory is used as is; otherwise the archive
is found or downloaded, its md5 checked, and it is extracted atomically beside itself (into a
temporary directory, renamed into place only when complete).
"""

from __future__ import annotations

import os
import pickle
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bttackler.tasks.data.download import DEFAULT_CACHE, fetch, search_dirs

from bttackler.core.errors import BttacklerError

ARCHIVE = "cifar-10-python.tar.gz"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
IMAGE_SHAPE = (3, 32, 32)


@dataclass(frozen=True)
class Cifar10:
    """Images as uint8 (N, 3, 32, 32) and labels as int64 (N,)."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (*TRAIN_BATCHES, TEST_BATCH))


def find_extracted(dirs: list[Path]) -> Path | None:
    """An already extracted, complete ``cifar-10-batches-py`` folder, if any."""
    for directory in dirs:
        for folder in (directory / FOLDER, directory / "cifar10" / FOLDER):
            if _complete(folder):
                return folder
    return None


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Members inside the archive's folder only: no absolute paths, no ``..``, no links."""
    members = []
    for member in tar.getmembers():
        parts = Path(member.name).parts
        if member.name.startswith("/") or ".." in parts or member.issym() or member.islnk():
            raise tarfile.TarError(f"unsafe member {member.name!r}")
        members.append(member)
    return members


def extract(archive: Path, target_dir: Path | None = None) -> Path:
    """Extract ``archive`` into ``target_dir`` (default: beside it) atomically.

    Falls back to ``~/.cache/bttackler`` when the archive's directory is read-only.
    Raises :class:`BttacklerError` for a corrupt or incomplete archive.
    """
    for parent in [target_dir] if target_dir else [archive.parent, DEFAULT_CACHE.expanduser()]:
        final = parent / FOLDER
        if _complete(final):
            return final
        try:
            parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{FOLDER}.", dir=parent))
        except PermissionError:
            continue
        try:
            try:
                with tarfile.open(archive, "r:gz") as tar:
                    members = _safe_members(tar)
                    if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
                        tar.extractall(tmp, members=members, filter="data")
                    else:
                        tar.extractall(tmp, members=members)
            except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
                raise BttacklerError(
                    f"{archive} is not a readable CIFAR-10 archive ({exc}); "
                    f"delete it and run again to download a fresh copy"
                ) from None
            if not _complete(tmp / FOLDER):
                raise BttacklerError(
                    f"{archive} does not contain {FOLDER}/ with data_batch_1..5 and test_batch; "
                    f"delete it and run again to download the official archive"
                )
            try:
                os.replace(tmp / FOLDER, final)
            except OSError:
                if not _complete(final):  # not a concurrent extraction that won the race
                    raise
            return final
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    raise BttacklerError(f"cannot extract {archive}: no writable directory for {FOLDER}/")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch as (uint8 images (N, 3, 32, 32), int64 labels (N,))."""
    try:
        with open(path, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise BttacklerError(
            f"{path} is not a CIFAR-10 python batch ({type(exc).__name__}: {exc})"
        ) from None
    n = len(labels)
    if data.ndim != 2 or data.shape != (n, 3072) or n == 0:
        raise BttacklerError(
            f"{path}: expected data of shape ({n}, 3072) matching {n} labels, got {data.shape}"
        )
    if labels.min() < 0 or labels.max() > 9:
        raise BttacklerError(f"{path}: labels outside 0..9")
    return data.reshape(n, *IMAGE_SHAPE), labels


def read_folder(folder: Path) -> Cifar10:
    """All five training batches (in order) and the test batch of an extracted folder."""
    parts = [read_batch(folder / name) for name in TRAIN_BATCHES]
    test_x, test_y = read_batch(folder / TEST_BATCH)
    return Cifar10(
        train_x=np.concatenate([x for x, _ in parts]),
        train_y=np.concatenate([y for _, y in parts]),
        test_x=test_x,
        test_y=test_y,
    )


_CACHE: dict[Path, Cifar10] = {}


def load(data_dir: str | os.PathLike[str] | None = None, *, md5: str | None = MD5) -> Cifar10:
    """CIFAR-10 from ``data_dir`` / ``$BTTACKLER_DATA`` / ``~/.cache/bttackler``.

    Order: an extracted folder, else the archive (md5-checked, extracted), else a download.
    Cached per process, so a worker running many trials reads the batches once.
    """
    dirs = search_dirs(data_dir)
    folder = find_extracted(dirs)
    if folder is None:
        archive = fetch(ARCHIVE, URL, md5=md5, data_dir=data_dir)
        folder = extract(archive)
    key = folder.resolve()
    if key not in _CACHE:
        _CACHE.clear()  # one copy in memory at most (150 MB)
        _CACHE[key] = read_folder(folder)
    return _CACHE[key]
