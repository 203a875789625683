"""Fashion-MNIST (Zalando, MIT licence): 70,000 28x28 grayscale images of 10 clothing classes.

Four IDX files, gzipped or not: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``. Looked for in ``fashion-mnist/``
inside each data directory, then in ``/usr/share/datasets/fashion-mnist`` (Debian's
``dataset-fashion-mnist`` package), else downloaded from the official mirror. Downloads are
md5-checked; local files are validated by structure (IDX magic, sizes, label range) instead,
because Debian recompresses them (their bytes differ from the published ones, their content
does not) and copies of those end up in data directories.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bttackler.tasks.data.download import fetch, find_file, search_dirs

from bttackler.core.errors import BttacklerError

SUBDIR = "fashion-mnist"  # inside each data directory: MNIST's files have the same names
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
BASE_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FILES: dict[str, str] = {  # name -> md5 of the published .gz
    "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
}
_DTYPE = {0x08: np.uint8}


@dataclass(frozen=True)
class FashionMnist:
    """Images as uint8 (N, 28, 28) and labels as int64 (N,)."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) as a numpy array of its declared shape."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:  # type: ignore[operator]
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise BttacklerError(
            f"{path} cannot be read ({type(exc).__name__}: {exc}); delete it and run again"
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPE:
        raise BttacklerError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise BttacklerError(f"{path} is truncated (header)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise BttacklerError(
            f"{path} holds {len(raw) - header} bytes of data, its header promises {size}"
        )
    # A writable copy: torch refuses to share memory with read-only buffers.
    return np.frombuffer(raw, dtype=_DTYPE[raw[2]], offset=header).reshape(shape).copy()


def _find(name: str, data_dir: str | os.PathLike[str] | None, download: bool = True) -> Path:
    if not download:
        dirs = [d / SUBDIR for d in search_dirs(data_dir)] + [DEBIAN_DIR]
        found = find_file([f"{name}.gz", name], dirs)
        if found is None:
            raise BttacklerError(
                f"Fashion-MNIST's {name}.gz not found in {', '.join(map(str, dirs))}; install "
                "Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist, or make "
                "data), or pass --data-dir DIR with the four IDX files in DIR/fashion-mnist/"
            )
        return found
    return fetch(
        f"{name}.gz",
        BASE_URL + f"{name}.gz",
        md5=FILES[name],
        data_dir=data_dir,
        aliases=(name,),
        subdir=SUBDIR,
        system_dirs=(DEBIAN_DIR,),
        verify_local=False,  # copies of Debian's recompressed files are common; see read_idx
    )


def _read_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise BttacklerError(f"{images}: expected images of shape (N, 28, 28), got {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise BttacklerError(f"{labels}: expected {len(x)} labels, got shape {y.shape}")
    if len(y) and int(y.max()) > 9:
        raise BttacklerError(f"{labels}: labels outside 0..9")
    return x, y.astype(np.int64)


def load(data_dir: str | os.PathLike[str] | None = None, *, download: bool = True) -> FashionMnist:
    """Fashion-MNIST's official training (60,000) and test (10,000) sets.

    ``download=False``: only local copies (data directories, then Debian's); a missing file
    is a one-line error saying how to install it, and the network is never touched.
    """
    paths = {name: _find(name, data_dir, download) for name in FILES}
    train_x, train_y = _read_pair(
        paths["train-images-idx3-ubyte"], paths["train-labels-idx1-ubyte"]
    )
    test_x, test_y = _read_pair(paths["t10k-images-idx3-ubyte"], paths["t10k-labels-idx1-ubyte"])
    return FashionMnist(train_x, train_y, test_x, test_y)
