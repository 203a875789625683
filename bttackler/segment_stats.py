"""Compiled CPU kernel for the per-layer statistics: every layer in one call, two passes.

The probe measures small layers on the CPU, where each numpy call costs more than the work
it does and every temporary array of a batched numpy version is another pass through memory.
This kernel (compiled once by numba, cached on disk) walks each segment of a flat array
twice -- counts, sums and extremes, then the centred moments -- and takes the quantiles
from the sample positions it is given, with no temporaries beyond the sample.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_QUANTILES = (0.5, 0.75, 0.25)  # median, q75, q25: the order of STAT_NAMES


@numba.njit(cache=True, nogil=True)
def _quantile(ordered: np.ndarray, m: int, q: float) -> float:
    """numpy's linear interpolation on ``ordered[:m]`` (in order at the positions used)."""
    position = q * (m - 1)
    below = int(math.floor(position))
    above = min(below + 1, m - 1)
    return ordered[below] + (position - below) * (ordered[above] - ordered[below])


@numba.njit(cache=True, nogil=True)
def segment_stats(
    flat: np.ndarray, bounds: np.ndarray, sample: np.ndarray, sample_bounds: np.ndarray
) -> np.ndarray:
    """Rows of the 14 statistics (``STAT_NAMES`` order) of ``flat[bounds[i]:bounds[i+1]]``.

    NaN and Inf are counted and left out of every other statistic; moments are accumulated
    in float64. The quantiles are those of the finite values among
    ``flat[sample[sample_bounds[i]:sample_bounds[i+1]]]`` (positions chosen by the caller).
    A segment with no finite value gets NaN everywhere but its counts and zero ratio; an
    empty segment, NaN everywhere.
    """
    rows = len(bounds) - 1
    out = np.full((rows, 14), np.nan)
    picked = np.empty(max(1, sample.size), dtype=np.float64)
    for row in range(rows):
        a, b = bounds[row], bounds[row + 1]
        count = 0
        nans = 0
        infs = 0
        zeros = 0
        total = 0.0
        abs_total = 0.0
        lo = np.inf
        hi = -np.inf
        for i in range(a, b):
            v = np.float64(flat[i])
            if v != v:
                nans += 1
            elif v == np.inf or v == -np.inf:
                infs += 1
            else:
                count += 1
                total += v
                abs_total += abs(v)
                lo = min(lo, v)
                hi = max(hi, v)
                if v == 0.0:
                    zeros += 1
        if b == a:  # an empty tensor: NaN everywhere, as tensor_stats
            continue
        out[row, 9] = zeros / (b - a)
        out[row, 10] = nans
        out[row, 11] = infs
        if count == 0:
            continue
        mean = total / count
        m2 = 0.0
        m3 = 0.0
        m4 = 0.0
        for i in range(a, b):
            v = np.float64(flat[i])
            if v == v and v != np.inf and v != -np.inf:
                d = v - mean
                d2 = d * d
                m2 += d2
                m3 += d2 * d
                m4 += d2 * d2
        var = m2 / count
        out[row, 0] = mean
        out[row, 1] = var
        out[row, 3] = lo
        out[row, 4] = hi
        if var > 0:
            out[row, 7] = (m3 / count) / var**1.5
            out[row, 8] = (m4 / count) / (var * var) - 3.0
        out[row, 12] = abs_total / count
        out[row, 13] = max(-lo, hi)
        m = 0
        for j in range(sample_bounds[row], sample_bounds[row + 1]):
            v = np.float64(flat[sample[j]])
            if v == v and v != np.inf and v != -np.inf:
                picked[m] = v
                m += 1
        if m:
            kth = np.empty(6, dtype=np.int64)
            for k in range(3):
                below = int(math.floor(_QUANTILES[k] * (m - 1)))
                kth[2 * k] = below
                kth[2 * k + 1] = min(below + 1, m - 1)
            ordered = np.partition(picked[:m], kth)  # those six positions hold sorted values
            out[row, 2] = _quantile(ordered, m, _QUANTILES[0])
            out[row, 5] = _quantile(ordered, m, _QUANTILES[1])
            out[row, 6] = _quantile(ordered, m, _QUANTILES[2])
    return out


def warm_up() -> None:
    """Load (or compile) the kernel for float32 layers now: about 0.6 s from the disk cache,
    a few seconds on a fresh clone. Worker slots call this once, before they fork trials."""
    flat = np.zeros(2, dtype=np.float32)
    bounds = np.array([0, 2], dtype=np.int64)
    segment_stats(flat, bounds, np.arange(2, dtype=np.int64), bounds)
