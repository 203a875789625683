"""The daily exchange rates of 8 countries (1990-2016, 7,588 days) of LSTNet's benchmark.

The file ``exchange_rate.txt`` is comma separated, 8 columns, no header, one day a line; the
public copy is gzipped in the ``laiguokun/multivariate-time-series-data`` repository. Either
form found in a data directory is read as is; otherwise the ``.gz`` is downloaded and its
md5 checked. The helpers :func:`chronological_split` and :func:`windows` are shared with the
other forecasting task (Ecdat Garch).
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from bttackler.tasks.data.download import fetch

from bttackler.core.errors import BttacklerError

FILENAME = "exchange_rate.txt.gz"
PLAIN = "exchange_rate.txt"
# Pinned to a commit of the LSTNet data repository; the md5 is that of the .gz blob there.
URL = (
    "https://raw.githubusercontent.com/laiguokun/multivariate-time-series-data/"
    "7f402f185cc2435b5e66aed13a3b560ed142e023/exchange_rate/exchange_rate.txt.gz"
)
MD5 = "9dd5a9c8f8f324e234938400f232fa08"
COLUMNS = 8
DAYS = 7588


def read_series(path: Path, columns: int = COLUMNS) -> np.ndarray:
    """The table as float32 (days, columns); ``.gz`` is decompressed on the fly."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as fh:  # type: ignore[operator]
            data = np.loadtxt(fh, delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, EOFError, zlib.error, ValueError, UnicodeDecodeError) as exc:
        raise BttacklerError(
            f"{path} is not a comma-separated table of numbers ({type(exc).__name__}: {exc}); "
            f"delete it and run again to download a fresh copy"
        ) from None
    if data.shape[1] != columns or len(data) == 0:
        raise BttacklerError(f"{path}: expected {columns} columns, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise BttacklerError(f"{path}: contains NaN or infinite values")
    return data.astype(np.float32)


def load(data_dir: str | os.PathLike[str] | None = None, *, md5: str | None = MD5) -> np.ndarray:
    """The exchange-rate table, (days, 8) float32, found or downloaded (md5-checked)."""
    path = fetch(FILENAME, URL, md5=md5, data_dir=data_dir, aliases=(PLAIN,))
    return read_series(path)


@dataclass(frozen=True)
class SeriesSplit:
    """Standardised train/validation/test segments (time, channels), float32 tensors.

    Validation and test segments start ``lookback`` steps before their first target, so
    every day after the training period is predicted exactly once per horizon position.
    """

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    mean: np.ndarray
    std: np.ndarray


def chronological_split(
    series: np.ndarray,
    *,
    lookback: int,
    train_fraction: float = 0.7,
    test_fraction: float = 0.2,
) -> SeriesSplit:
    """70/10/20 chronological split standardised with training statistics only.

    Borders follow the Autoformer/Informer ``custom`` loader used by the paper's authors:
    ``n_train = int(T * 0.7)``, ``n_test = int(T * 0.2)``, validation gets the rest.
    """
    t = len(series)
    n_train = int(t * train_fraction)
    n_test = int(t * test_fraction)
    n_val = t - n_train - n_test
    if min(n_train, n_val, n_test) <= 0 or n_train < lookback:
        raise ValueError(f"series of {t} steps is too short for lookback {lookback}")
    mean = series[:n_train].mean(axis=0)
    std = series[:n_train].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    scaled = torch.from_numpy(((series - mean) / std).astype(np.float32))
    return SeriesSplit(
        train=scaled[:n_train],
        val=scaled[n_train - lookback : n_train + n_val],
        test=scaled[t - n_test - lookback :],
        mean=mean,
        std=std,
    )


def windows(segment: torch.Tensor, in_len: int, out_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (input, target) pair of consecutive ``in_len`` and ``out_len`` steps.

    Returns views of shape (N, in_len, C) and (N, out_len, C), N = T - in_len - out_len + 1.
    """
    total = in_len + out_len
    if len(segment) < total:
        raise ValueError(f"segment of {len(segment)} steps is shorter than {in_len}+{out_len}")
    w = segment.unfold(0, total, 1).transpose(1, 2)  # (N, total, C)
    return w[:, :in_len], w[:, in_len:]
