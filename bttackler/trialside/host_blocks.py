"""Where CPU tensors keep their elements, for the compiled kernels of
:mod:`bttackler.trialside.kernels` that read many tensors in one call (the probe's
check, sampled statistics and update ratios: each library call costs ~10 us of cold caches
just after a training step, whatever it reads)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

Blocks = tuple[np.ndarray, np.ndarray, np.ndarray]  # addresses, sizes, float64 or not


def host_blocks(tensors: Sequence[Tensor | None]) -> Blocks | None:
    """Where the elements of each tensor are (an empty block for a None), for the compiled
    kernels of :mod:`bttackler.trialside.kernels` that read them in one call; None
    when one is not a dense float32/float64 CPU tensor (the caller takes a torch path).
    The tensors must outlive the kernel call."""
    addresses, sizes, wide = [], [], []
    for t in tensors:
        if t is None:
            addresses.append(0)
            sizes.append(0)
            wide.append(False)
            continue
        dtype = t.dtype
        if not (dtype is torch.float32 or dtype is torch.float64) or not t.is_cpu:
            return None
        if not t.is_contiguous():  # sparse, strided views, other memory formats
            return None
        addresses.append(t.data_ptr())
        sizes.append(t.numel())
        wide.append(dtype is torch.float64)
    return (
        np.array(addresses, dtype=np.int64),
        np.array(sizes, dtype=np.int64),
        np.array(wide, dtype=np.int8),
    )
