"""The 14 per-tensor statistics the probe records, computed on the tensor's own device.

Pure functions. On an accelerator they are torch ops with no host synchronisation: the result
stays a device tensor so the probe can stack every layer's and copy them to the host once per
epoch. On the CPU (where the host is the device) a compiled kernel computes them, every layer
in one call (:mod:`bttackler.trialside.kernels`).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor

from bttackler.core.history import TENSOR_STAT_NAMES
from bttackler.trialside.kernels import segment_stats

_QUANTILES = (0.5, 0.75, 0.25)  # median, q75, q25: the order of TENSOR_STAT_NAMES


def tensor_stats(
    t: Tensor,
    *,
    sample_size: int = 4096,
    generator: torch.Generator | None = None,
    finite: bool = False,
) -> Tensor:
    """Return the statistics of ``t`` in :data:`TENSOR_STAT_NAMES` order (the 14 first of
    ``STAT_NAMES``; ``update_ratio`` is no statistic of one tensor), as a float64 tensor.

    * ``nan_count``, ``inf_count`` and ``zero_ratio`` (fraction of elements exactly 0, over all
      elements) are exact, over the full tensor.
    * NaN and +-Inf elements are left out of every other statistic: ``mean``, ``var``
      (population variance, ``ddof=0``), ``min``, ``max``, ``skew``, ``kurt``, ``abs_mean``
      and ``abs_max`` use all *finite* elements.
    * ``skew`` and ``kurt`` are standardized moments; ``kurt`` is the *excess* kurtosis
      (normal = 0), i.e. ``scipy.stats.skew``/``kurtosis`` with ``bias=True``. They are NaN
      when the variance is 0.
    * ``median``, ``q75`` and ``q25`` (linear interpolation, as numpy) are exact when ``t``
      has at most ``sample_size`` elements; otherwise they are estimated on ``sample_size``
      elements drawn uniformly with replacement using ``generator`` (which must live on
      ``t``'s device; seed it for reproducible results): positions ``floor(u * n)`` for
      ``sample_size`` uniform draws ``u``. Non-finite samples are ignored.
    * Everything is NaN when ``t`` has no finite element (counts and zero_ratio excepted).

    No host synchronisation. Cost: about ten elementwise passes over ``t``.

    Args:
        t: any tensor; floating types other than float64 are computed in float32.
        sample_size: number of elements sampled for the quantiles (> 0).
        generator: random generator for the sample; ``None`` uses torch's global one.
        finite: the caller knows ``t`` has no NaN/Inf (e.g. its sum is finite); skips the
            masking passes. Wrong if ``t`` does hold a NaN/Inf.
    """
    if sample_size <= 0:
        raise ValueError(f"sample_size must be > 0, got {sample_size}")
    if t.device.type == "cpu":
        # On the CPU the host is the device: one compiled two-pass kernel beats torch's
        # dozen or so elementwise passes and their per-call costs.
        return torch.from_numpy(cpu_stats_rows([flat_array(t)], sample_size, generator)[0])
    return _device_stats(t, sample_size, _draws(t, sample_size, generator), finite)


def _draws(t: Tensor, sample_size: int, generator: torch.Generator | None) -> Tensor | None:
    """The uniform draws of a quantile sample of ``t`` (None: small enough to be exact)."""
    if t.numel() <= sample_size:
        return None
    return torch.rand(sample_size, dtype=torch.float64, generator=generator, device=t.device)


def _device_stats(t: Tensor, sample_size: int, draws: Tensor | None, finite: bool) -> Tensor:
    x = t.detach().reshape(-1)
    if x.dtype != torch.float64:
        x = x.float()
    if x.numel() == 0:
        return torch.full(
            (len(TENSOR_STAT_NAMES),), float("nan"), dtype=torch.float64, device=x.device
        )
    return _torch_stats(x, sample_size, draws, finite)


def _torch_stats(x: Tensor, sample_size: int, draws: Tensor | None, finite: bool) -> Tensor:
    """:func:`tensor_stats` with torch ops on ``x``'s device (flat, non-empty): no sync.
    The accelerator path; tests also run it on the CPU against the kernel. ``draws``: the
    quantile sample's uniform draws when ``x`` has more than ``sample_size`` elements."""
    n = x.numel()
    # Two scratch buffers reused with out=/in-place ops instead of a fresh tensor per op.
    buf, buf2 = torch.empty_like(x), torch.empty_like(x)
    mask: Tensor | None = None
    if finite:
        nan_count = inf_count = torch.zeros((), dtype=torch.float64, device=x.device)
        xf, nf = x, torch.tensor(float(n), dtype=x.dtype, device=x.device)
    else:
        nan, inf = torch.isnan(x), torch.isinf(x)
        mask = ~(nan | inf)
        nan_count, inf_count = nan.sum(), inf.sum()
        nf = mask.sum().to(x.dtype)
        xf = torch.where(mask, x, 0.0)

    mean = xf.sum() / nf
    torch.abs(xf, out=buf)
    abs_mean = buf.sum() / nf
    torch.sign(buf, out=buf)
    nonzero = buf.sum() + (n - nf)  # NaN and Inf are non-zero
    torch.sub(xf, mean, out=buf)
    if mask is not None:
        buf.mul_(mask)
    var = torch.dot(buf, buf) / nf
    buf.mul_(var.rsqrt())  # standardized; NaN everywhere when var is 0
    torch.mul(buf, buf, out=buf2)
    skew = torch.dot(buf2, buf) / nf
    kurt = torch.dot(buf2, buf2) / nf - 3.0
    if mask is None:
        lo, hi = torch.aminmax(x)
    else:
        lo = torch.where(mask, x, torch.inf).min()
        hi = torch.where(mask, x, -torch.inf).max()
    abs_max = torch.maximum(-lo, hi)
    if mask is not None:
        no_finite = nf == 0
        lo, hi, abs_max = (torch.where(no_finite, torch.nan, v) for v in (lo, hi, abs_max))
    quant = _quantiles(x, draws, finite)

    parts = [
        mean,
        var,
        quant[0],
        lo,
        hi,
        quant[1],
        quant[2],
        skew,
        kurt,
        (n - nonzero) / n,
        nan_count,
        inf_count,
        abs_mean,
        abs_max,
    ]
    return torch.stack([v.to(torch.float64) for v in parts])


def _quantiles(x: Tensor, draws: Tensor | None, finite: bool) -> Tensor:
    """Median, q75, q25 of ``x`` (flat), on the sample at ``floor(draws * n)`` if given
    (float64 draws, so every position is reachable however big ``x`` is)."""
    sample = x
    if draws is not None:
        n = x.numel()
        sample = x[(draws * n).long().clamp_(max=n - 1)]
    if not finite:  # rare path: NaN-aware but slower
        sample = torch.where(torch.isfinite(sample), sample, torch.nan)
        qs = torch.tensor(_QUANTILES, dtype=sample.dtype, device=x.device)
        return torch.nanquantile(sample, qs)
    # kthvalue is ~10x faster than the sort behind torch.quantile on CPU
    m = sample.numel()
    kth: dict[int, Tensor] = {}
    out = []
    for q in _QUANTILES:
        pos = q * (m - 1)
        below = math.floor(pos)
        above = min(below + 1, m - 1)
        for k in (below, above):
            if k not in kth:
                kth[k] = torch.kthvalue(sample, k + 1).values
        out.append(kth[below] + (pos - below) * (kth[above] - kth[below]))
    return torch.stack(out)


def stats_matrix(
    tensors: list[Tensor],
    *,
    sample_size: int = 4096,
    generator: torch.Generator | None = None,
    finite: list[bool] | None = None,
) -> Tensor:
    """:func:`tensor_stats` of several (at least one) tensors of one device, one row each.

    One set of ``sample_size`` draws serves every tensor bigger than that: each samples the
    positions ``floor(u * n)`` of its own size ``n`` (uniform within each tensor; a row is
    what :func:`tensor_stats` gives with a generator in the same state). On the CPU every
    tensor goes through one call of the compiled kernel (:mod:`bttackler.trialside.kernels`):
    per-call costs, not the arithmetic, dominate the small layers a CPU trains.
    """
    if finite is None:
        finite = [False] * len(tensors)
    if tensors[0].device.type == "cpu":
        arrays = [flat_array(t) for t in tensors]
        return torch.from_numpy(cpu_stats_rows(arrays, sample_size, generator))
    big = max(tensors, key=lambda t: t.numel())
    draws = _draws(big, sample_size, generator)
    return torch.stack(
        [
            _device_stats(t, sample_size, draws if t.numel() > sample_size else None, f)
            for t, f in zip(tensors, finite)
        ]
    )


def cpu_stats_rows(
    arrays: list[np.ndarray], sample_size: int, generator: torch.Generator | None
) -> np.ndarray:
    """Rows of :data:`TENSOR_STAT_NAMES` for flat float arrays (see :func:`stats_matrix`), by
    the compiled kernel of :mod:`bttackler.trialside.kernels`, as a float64 array."""
    if sample_size <= 0:
        raise ValueError(f"sample_size must be > 0, got {sample_size}")
    bounds, sampled = _layout(tuple(a.size for a in arrays), sample_size)
    flat = np.concatenate(arrays) if arrays else np.zeros(0)
    if flat.dtype not in (np.float32, np.float64):
        flat = flat.astype(np.float64)
    draws = np.zeros(0)
    if sampled:
        draws = torch.rand(sample_size, dtype=torch.float64, generator=generator).numpy()
    return segment_stats(flat, bounds, draws, sample_size)


@functools.lru_cache(maxsize=64)
def _layout(sizes: tuple[int, ...], sample_size: int) -> tuple[np.ndarray, bool]:
    """Segment bounds of arrays of these sizes laid end to end, and whether any is sampled
    (cached: a probe asks for the same layout at every sampled batch; not to be mutated)."""
    bounds = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=bounds[1:])
    return bounds, any(size > sample_size for size in sizes)


def flat_array(t: Tensor) -> np.ndarray:
    """A flat numpy view of ``t``'s elements (a copy only for dtypes other than float32/float64,
    or a ``t`` whose elements are not one dense block). A dense ``t`` in another memory
    format (the channels-last outputs and gradients of the CPU's convolutions) is read in
    memory order, not copied: the statistics do not depend on the order, only which
    positions a quantile sample picks does. Few torch calls: each costs more than the view
    it makes."""
    if t.requires_grad:
        t = t.detach()
    if t.dtype not in (torch.float32, torch.float64):
        t = t.float()
    return t.numpy().ravel(order="K")
