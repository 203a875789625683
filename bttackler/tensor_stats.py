"""The 14 per-tensor statistics the probe records, computed on the tensor's own device.

Pure functions. On an accelerator they are torch ops with no host synchronisation: the result
stays a device tensor so the probe can stack every layer's and copy them to the host once per
epoch. On the CPU (where the host is the device) numpy computes them, several layers at once.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from bttackler.history import STAT_NAMES

_QUANTILES = (0.5, 0.75, 0.25)  # median, q75, q25: the order of STAT_NAMES
BATCHED_MAX_ELEMENTS = 65_536  # above this, a layer's moments are taken with torch in float32


def tensor_stats(
    t: Tensor,
    *,
    sample_size: int = 4096,
    generator: torch.Generator | None = None,
    finite: bool = False,
) -> Tensor:
    """Return the statistics of ``t`` in :data:`STAT_NAMES` order, as a float64 tensor of 14.

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
      ``t``'s device; seed it for reproducible results). Non-finite samples are ignored.
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
    x = t.detach().reshape(-1)
    if x.dtype != torch.float64:
        x = x.float()
    n = x.numel()
    if n == 0:
        return torch.full((len(STAT_NAMES),), float("nan"), dtype=torch.float64, device=x.device)
    if x.device.type == "cpu":
        # On the CPU the host is the device: numpy's per-call cost is a fraction of torch's,
        # which dominates for the small tensors of most layers (~10x faster overall).
        return torch.from_numpy(_numpy_stats(x, sample_size, generator))
    return _torch_stats(x, sample_size, generator, finite)


def _torch_stats(
    x: Tensor, sample_size: int, generator: torch.Generator | None, finite: bool
) -> Tensor:
    """:func:`tensor_stats` with torch ops on ``x``'s device (flat, non-empty): no sync."""
    n = x.numel()
    # Two scratch buffers reused with out=/in-place ops: on CPU a fresh allocation per
    # elementwise op costs more than the op itself.
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
    quant = _quantiles(x, sample_size, generator, finite)

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


def _numpy_stats(x: Tensor, sample_size: int, generator: torch.Generator | None) -> np.ndarray:
    """The same statistics as :func:`tensor_stats`, for a flat CPU tensor, with numpy."""
    a = x.numpy()
    n = a.size
    finite = np.isfinite(a)
    nan_count = float(np.isnan(a).sum())
    inf_count = float(n - finite.sum() - nan_count)
    zero_ratio = float(np.count_nonzero(a == 0)) / n
    f = a if nan_count + inf_count == 0 else a[finite]
    if f.size == 0:
        out = np.full(len(STAT_NAMES), np.nan)
        out[9:12] = (zero_ratio, nan_count, inf_count)
        return out
    f64 = f.astype(np.float64, copy=False)
    mean = float(f64.mean())
    centred = f64 - mean
    var = float(np.dot(centred, centred)) / f64.size
    if var > 0:
        z = centred / math.sqrt(var)
        z2 = z * z
        skew = float(np.dot(z2, z)) / f64.size
        kurt = float(np.dot(z2, z2)) / f64.size - 3.0
    else:
        skew = kurt = math.nan
    sample = f64
    if a.size > sample_size:  # the same sampling as the device path: with replacement
        idx = torch.randint(0, n, (sample_size,), generator=generator).numpy()
        sample = a[idx].astype(np.float64)
        sample = sample[np.isfinite(sample)]
    median, q75, q25 = _np_quantiles(sample) if sample.size else (math.nan,) * 3
    lo, hi = float(f64.min()), float(f64.max())
    absolute = np.abs(f64)
    return np.array(
        [mean, var, median, lo, hi, q75, q25, skew, kurt, zero_ratio, nan_count, inf_count,
         float(absolute.mean()), float(absolute.max())],
        dtype=np.float64,
    )  # fmt: skip


def _np_quantiles(sample: np.ndarray) -> tuple[float, ...]:
    """Median, q75, q25 with numpy's linear interpolation, from one ``np.partition`` (O(n);
    ``np.quantile`` sorts and costs several times more on small arrays)."""
    m = sample.size
    positions = [q * (m - 1) for q in _QUANTILES]
    ks = sorted({k for p in positions for k in (math.floor(p), min(math.floor(p) + 1, m - 1))})
    part = np.partition(sample, ks)
    out = []
    for pos in positions:
        below = math.floor(pos)
        above = min(below + 1, m - 1)
        out.append(float(part[below] + (pos - below) * (part[above] - part[below])))
    return tuple(out)


def _quantiles(
    x: Tensor, sample_size: int, generator: torch.Generator | None, finite: bool
) -> Tensor:
    """Median, q75, q25 of ``x`` (flat), on a random sample when ``x`` is bigger."""
    n = x.numel()
    sample = x
    if n > sample_size:
        idx = torch.randint(0, n, (sample_size,), generator=generator, device=x.device)
        sample = x[idx]
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


def many_tensor_stats(
    tensors: list[Tensor],
    *,
    sample_size: int = 4096,
    generator: torch.Generator | None = None,
    finite: list[bool] | None = None,
) -> list[Tensor]:
    """:func:`tensor_stats` of several tensors of one device, in order.

    On the CPU the layers are concatenated and every moment is taken for all of them at once
    with ``np.*.reduceat`` (a few dozen numpy calls in all instead of a few dozen per layer:
    the per-call cost is what dominates small layers). Same numbers as :func:`tensor_stats`,
    including the sampled quantiles (the same generator draws, in the same order).
    """
    if not tensors:
        return []
    if finite is None:
        finite = [False] * len(tensors)
    if tensors[0].device.type != "cpu":
        return [
            tensor_stats(t, sample_size=sample_size, generator=generator, finite=f)
            for t, f in zip(tensors, finite)
        ]
    # Big tensors: torch's in-place passes in float32 (no float64 copies of millions of
    # elements); small ones: numpy, batched. Generator draws stay in tensor order.
    out: list[Tensor | None] = [None] * len(tensors)
    small = [i for i, t in enumerate(tensors) if t.numel() <= BATCHED_MAX_ELEMENTS]
    arrays = [tensors[i].detach().reshape(-1).to(torch.float64).numpy() for i in small]
    small_rows = iter(_many_numpy_stats(arrays, sample_size, generator) if small else [])
    for i, t in enumerate(tensors):
        if i in small:
            out[i] = torch.from_numpy(next(small_rows))
        else:
            x = t.detach().reshape(-1)
            out[i] = _torch_stats(x if x.dtype == torch.float64 else x.float(), sample_size,
                                  generator, finite[i])  # fmt: skip
    return [t for t in out if t is not None]


def _many_numpy_stats(
    arrays: list[np.ndarray], sample_size: int, generator: torch.Generator | None
) -> np.ndarray:
    sizes = np.array([a.size for a in arrays])
    out = np.full((len(arrays), len(STAT_NAMES)), np.nan)
    keep = np.flatnonzero(sizes > 0)  # reduceat cannot take empty segments
    if keep.size == 0:
        return out
    flat = np.concatenate([arrays[i] for i in keep])
    n = sizes[keep]
    starts = np.concatenate(([0], np.cumsum(n)[:-1]))
    isfinite = np.isfinite(flat)
    nan_count = np.add.reduceat(np.isnan(flat), starts).astype(np.float64)
    nf = np.add.reduceat(isfinite, starts).astype(np.float64)
    inf_count = n - nf - nan_count
    zero_ratio = np.add.reduceat(flat == 0, starts) / n
    all_finite = bool(isfinite.all())
    f = flat if all_finite else np.where(isfinite, flat, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.add.reduceat(f, starts) / nf
        centred = f - np.repeat(mean, n)
        if not all_finite:
            centred[~isfinite] = 0.0
        sq = centred * centred
        var = np.add.reduceat(sq, starts) / nf
        m3 = np.add.reduceat(sq * centred, starts) / nf
        m4 = np.add.reduceat(sq * sq, starts) / nf
        skew = np.where(var > 0, m3 / var**1.5, np.nan)
        kurt = np.where(var > 0, m4 / (var * var) - 3.0, np.nan)
        absolute = np.abs(f)
        abs_mean = np.add.reduceat(absolute, starts) / nf
        lo = np.minimum.reduceat(flat if all_finite else np.where(isfinite, flat, np.inf), starts)
        hi = np.maximum.reduceat(flat if all_finite else np.where(isfinite, flat, -np.inf), starts)
        abs_max = np.maximum.reduceat(
            absolute if all_finite else np.where(isfinite, absolute, -1.0), starts
        )
    empty = nf == 0
    for values in (mean, var, lo, hi, abs_mean, abs_max):
        values[empty] = np.nan
    for row, i in enumerate(keep):
        a = arrays[i]
        if a.size > sample_size:  # the same sampling as tensor_stats: with replacement
            idx = torch.randint(0, a.size, (sample_size,), generator=generator).numpy()
            sample = a[idx]
        else:
            sample = a
        if not all_finite:
            sample = sample[np.isfinite(sample)]
        quant = _np_quantiles(sample) if sample.size else (math.nan,) * 3
        out[i] = (
            mean[row], var[row], quant[0], lo[row], hi[row], quant[1], quant[2], skew[row],
            kurt[row], zero_ratio[row], nan_count[row], inf_count[row], abs_mean[row],
            abs_max[row],
        )  # fmt: skip
    return out
