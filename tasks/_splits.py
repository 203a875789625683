"""Labelled data as the training loops take it, and the fixed train/validation partitions
every trial of a task shares (so trials are judged on the same examples)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Split:
    """Inputs and integer labels of one split; inputs may be uint8 (converted per batch)."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} rows but y has {len(self.y)}")

    def __len__(self) -> int:
        return len(self.y)


def split_indices(
    n: int, *, val_fraction: float, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random train/validation partition of ``range(n)`` (same for every trial)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction={val_fraction}: expected 0 < val_fraction < 1")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = int(round(n * val_fraction))
    return order[n_val:], order[:n_val]


def image_splits(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    val_fraction: float,
    train_size: int | None = None,
    val_size: int | None = None,
    seed: int = 0,
) -> tuple[Split, Split]:
    """Training and validation splits of a labelled set, optionally capped in size.

    The partition is fixed by ``seed``; caps take a prefix of each (already random) part, so
    a smaller ``train_size`` is a subset of a larger one.
    """
    tr, va = split_indices(len(y), val_fraction=val_fraction, seed=seed)
    tr = tr[:train_size] if train_size else tr
    va = va[:val_size] if val_size else va
    return Split(x[tr], y[tr]), Split(x[va], y[va])
