"""The probe's compiled CPU kernels (numba, compiled once and cached on disk): the work that
costs more as numpy calls than it does.

- :func:`segment_stats`: the per-layer statistics of every layer in one call, two passes --
  counts, sums and extremes, then the centred moments -- and the quantiles from the sample
  positions it is given, with no temporaries beyond the sample (``sampled_stats``,
  ``tensor_stats``);
- :func:`count_inactive`: an activation output's inactive elements (``probe_layers``);
- :func:`start_means`, :func:`add_means`, :func:`combine_means`: the epoch's running means of
  the sampled batches' statistics (``probe_layers``);
- :func:`abs_maxima`: the every-batch gradient check's max|g| per tensor, read in place
  (``gradient_check``);
- :func:`gather_blocks`, :func:`gather_float32`, :func:`group_update_ratios`: weights copied
  out and ||now - before|| / ||before|| per layer (``update_ratios``, ``sampled_stats``);
- :func:`warm_up`: compiles (or loads) them all before the first trial.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic


@numba.njit(cache=True, nogil=True)
def _select(x: np.ndarray, lo: int, hi: int, k: int) -> float:
    """Reorder ``x[lo:hi + 1]`` so that ``x[k]`` holds the value it would have were that
    range sorted, no greater value before it and no smaller after it; return ``x[k]``
    (quickselect, ``x`` finite). Linear time on average, no allocation. Each round splits
    the range in three (below, equal to, above a median-of-three pivot) by two passes that
    swap every element and advance a boundary by the comparison's result: no branch on
    the data, whose mispredictions made a Hoare partition ~5x slower on fresh samples than
    on the same one (a benchmark's)."""
    while lo < hi:
        mid = (lo + hi) // 2
        a, b, c = x[lo], x[mid], x[hi]
        pivot = max(min(a, b), min(max(a, b), c))  # median of three
        below = lo  # x[lo:below] < pivot
        for i in range(lo, hi + 1):
            v = x[i]
            x[i] = x[below]
            x[below] = v
            below += v < pivot
        above = below  # x[below:above] == pivot (one at least: the pivot is in the range)
        for i in range(below, hi + 1):
            v = x[i]
            x[i] = x[above]
            x[above] = v
            above += v <= pivot
        if k < below:
            hi = below - 1
        elif k >= above:
            lo = above
        else:
            break
    return x[k]


@numba.njit(cache=True, nogil=True)
def _quantiles_into(x: np.ndarray, m: int, row: np.ndarray) -> None:
    """numpy's linearly interpolated quantiles of ``x[:m]`` (finite, reordered in place)
    into ``row`` at the columns of median, q75 and q25. Taken in ascending order, each
    selection only looks right of the previous one, and the upper neighbour of a position
    is the least value right of it."""
    start = 0
    for q, column in ((0.25, 6), (0.5, 2), (0.75, 5)):
        position = q * (m - 1)
        below = int(math.floor(position))
        low = _select(x, start, m - 1, below)
        high = low
        if below + 1 < m and position > below:
            high = x[below + 1]
            for i in range(below + 2, m):
                high = min(high, x[i])
        row[column] = low + (position - below) * (high - low)
        start = below + 1


# Reassociation lets the compiler vectorise these sums (a different rounding order than a
# sequential loop, well within float64); NaN/Inf still propagate, which is how the caller
# tells a segment with no NaN/Inf from one that needs the careful loops.
_FAST = {"reassoc", "contract", "nsz"}


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _sums_fast(segment: np.ndarray) -> tuple[float, float, float, float, int]:
    total = 0.0
    abs_total = 0.0
    for i in range(segment.size):  # not range(a, b): an index that may be < 0 (as far as
        v = np.float64(segment[i])  # the compiler knows) wraps around and stops vectorising
        total += v
        abs_total += abs(v)
    if segment.itemsize == 4:
        lo32, hi32, zeros = _keyed_extremes(segment.view(np.int32), np.int32(0x7FFFFFFF), 31)
        lo, hi = _unkey32(lo32), _unkey32(hi32)
    else:
        lo64, hi64, zeros = _keyed_extremes(
            segment.view(np.int64), np.int64(0x7FFFFFFFFFFFFFFF), 63
        )
        lo, hi = _unkey64(lo64), _unkey64(hi64)
    return total, abs_total, lo, hi, zeros


@numba.njit(cache=True, nogil=True)
def _keyed_extremes(bits: np.ndarray, mask: Any, shift: int) -> tuple[Any, Any, int]:
    """The smallest and largest float (by their keys: the bits of a negative one with its
    magnitude bits flipped, as a signed integer, order as the floats do) and the count of
    zeros, of a non-empty segment seen as integers: integer comparisons, which the
    compiler vectorises (float ones it would not). NaNs give nonsense: the caller's sums
    show them, and it counts again."""
    first = bits[0] ^ ((bits[0] >> shift) & mask)
    lo = first
    hi = first
    zeros = 0
    for i in range(bits.size):
        b = bits[i]
        key = b ^ ((b >> shift) & mask)
        lo = key if key < lo else lo
        hi = key if key > hi else hi
        zeros += (b & mask) == 0
    return lo, hi, zeros


@numba.njit(cache=True, nogil=True)
def _unkey32(key: np.int32) -> float:
    bits = key ^ ((key >> 31) & np.int32(0x7FFFFFFF))
    return np.float64(np.array([bits], dtype=np.int32).view(np.float32)[0])


@numba.njit(cache=True, nogil=True)
def _unkey64(key: np.int64) -> float:
    bits = key ^ ((key >> 63) & np.int64(0x7FFFFFFFFFFFFFFF))
    return np.array([bits], dtype=np.int64).view(np.float64)[0]


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _central_moments(
    segment: np.ndarray, mean: float, skip_nonfinite: bool
) -> tuple[float, float, float]:
    """Sums of the 2nd, 3rd and 4th powers of ``x - mean`` (over the finite values when
    ``skip_nonfinite``; the compiler takes that test out of the loop)."""
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    for i in range(segment.size):
        v = np.float64(segment[i])
        if skip_nonfinite and not (v == v and v != np.inf and v != -np.inf):
            continue
        d = v - mean
        d2 = d * d
        m2 += d2
        m3 += d2 * d
        m4 += d2 * d2
    return m2, m3, m4


@numba.njit(cache=True, nogil=True)
def _sums_careful(
    flat: np.ndarray, a: int, b: int
) -> tuple[int, int, int, int, float, float, float, float]:
    """Counts, sums and extremes of the finite values; NaN and Inf counted apart."""
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
    return count, nans, infs, zeros, total, abs_total, lo, hi


@numba.njit(cache=True, nogil=True)
def segment_stats(
    flat: np.ndarray, bounds: np.ndarray, draws: np.ndarray, sample_size: int
) -> np.ndarray:
    """Rows of the 14 statistics (``TENSOR_STAT_NAMES`` order) of ``flat[bounds[i]:bounds[i+1]]``.

    NaN and Inf are counted and left out of every other statistic; moments are accumulated
    in float64. The quantiles are those of the finite values of the segment when it has at
    most ``sample_size`` elements; of a bigger one, those of ``sample_size`` elements at
    positions ``floor(u * n)`` for the ``sample_size`` uniform ``draws`` (the same draws for
    every big segment).
    A segment with no finite value gets NaN everywhere but its counts and zero ratio; an
    empty segment, NaN everywhere.
    """
    rows = len(bounds) - 1
    out = np.full((rows, 14), np.nan)
    longest = 1
    for row in range(rows):
        longest = max(longest, min(bounds[row + 1] - bounds[row], sample_size))
    picked = np.empty(longest, dtype=np.float64)
    for row in range(rows):
        a, b = bounds[row], bounds[row + 1]
        if b == a:  # an empty tensor: NaN everywhere, as tensor_stats
            continue
        total, abs_total, lo, hi, zeros = _sums_fast(flat[a:b])
        if math.isfinite(total) and math.isfinite(abs_total):  # no NaN/Inf: the fast path
            count, nans, infs = b - a, 0, 0
            mean = total / count
            m2, m3, m4 = _central_moments(flat[a:b], mean, False)
        else:
            count, nans, infs, zeros, total, abs_total, lo, hi = _sums_careful(flat, a, b)
            mean = total / count if count else np.nan
            m2, m3, m4 = _central_moments(flat[a:b], mean, True)
        out[row, 9] = zeros / (b - a)
        out[row, 10] = nans
        out[row, 11] = infs
        n = b - a
        big = n > sample_size
        if count == 0:
            continue
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
        for j in range(sample_size if big else n):
            at = a + min(int(draws[j] * n), n - 1) if big else a + j
            v = np.float64(flat[at])
            if v == v and v != np.inf and v != -np.inf:
                picked[m] = v
                m += 1
        if m:
            _quantiles_into(picked, m, out[row])
    return out


@numba.njit(cache=True, nogil=True)
def count_inactive(
    flat: np.ndarray, low: float, high: float, strict: bool, draws: np.ndarray
) -> int:
    """How many values of ``flat`` are at or beyond a bound (``<= low`` or ``>= high``;
    ``< low`` or ``> high`` when ``strict``; a NaN bound never holds), compared in float64:
    of all of them, or, given ``draws`` (uniform in [0, 1)), of those at positions
    ``floor(u * n)``."""
    n = flat.size
    count = 0
    sampled = draws.size > 0
    for j in range(draws.size if sampled else n):
        v = np.float64(flat[min(int(draws[j] * n), n - 1)] if sampled else flat[j])
        if (v < low or v > high) if strict else (v <= low or v >= high):
            count += 1
    return count


@numba.njit(cache=True, nogil=True)
def start_means(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The first sample of :class:`~bttackler.trialside.probe_layers.SampleMeans` on the
    host: (values with NaN as 0, 1 where not NaN, and two copies for the extremes), in one
    call instead of five numpy ones."""
    total = np.empty_like(rows)
    count = np.empty_like(rows)
    for i in range(rows.shape[0]):
        for j in range(rows.shape[1]):
            v = rows[i, j]
            known = v == v
            total[i, j] = v if known else 0.0
            count[i, j] = 1.0 if known else 0.0
    return total, count, rows.copy(), rows.copy()


@numba.njit(cache=True, nogil=True)
def add_means(
    rows: np.ndarray, total: np.ndarray, count: np.ndarray, high: np.ndarray, low: np.ndarray
) -> None:
    """Another sample into :func:`start_means`' arrays, in place: the non-NaN values summed
    and counted, the extremes as ``np.fmax``/``np.fmin`` (a NaN loses to a number)."""
    for i in range(rows.shape[0]):
        for j in range(rows.shape[1]):
            v = rows[i, j]
            known = v == v
            total[i, j] += v if known else 0.0
            count[i, j] += 1.0 if known else 0.0
            h = high[i, j]
            if v > h or h != h:
                high[i, j] = v
            w = low[i, j]
            if v < w or w != w:
                low[i, j] = v


@numba.njit(cache=True, nogil=True, error_model="numpy")
def combine_means(
    total: np.ndarray, count: np.ndarray, high: np.ndarray, low: np.ndarray, kinds: np.ndarray
) -> np.ndarray:
    """The epoch's values of :func:`start_means`' arrays, as a new matrix: per column,
    ``kinds`` 0 the mean (NaN when nothing was counted), 1 the maximum, 2 the minimum,
    3 the sum (NaN when nothing was counted)."""
    out = np.empty_like(total)
    for i in range(total.shape[0]):
        for j in range(total.shape[1]):
            kind = kinds[j]
            if kind == 1:
                out[i, j] = high[i, j]
            elif kind == 2:
                out[i, j] = low[i, j]
            elif kind == 3:
                out[i, j] = total[i, j] if count[i, j] > 0 else np.nan
            else:
                out[i, j] = total[i, j] / count[i, j]
    return out


def _pointer_typing(typingctx, address):  # type: ignore[no-untyped-def]
    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(address), codegen


# an integer address as a ``void*`` (for :func:`numba.carray`), in compiled code
_as_pointer: Any = intrinsic(_pointer_typing)


@numba.njit(cache=True, nogil=True)
def abs_maxima(addresses: np.ndarray, sizes: np.ndarray, wide: np.ndarray) -> np.ndarray:
    """The max |x| of each dense float32 (``wide`` 0) or float64 (``wide`` 1) block of
    ``sizes[i]`` elements at ``addresses[i]``: NaN if it holds a NaN, Inf if an Inf and no
    NaN, 0 for an empty one. Exact. The sign bit masked off, a non-negative float orders as
    its bits do and a NaN's bits exceed Inf's: an integer maximum, which the compiler
    vectorises, tells all three apart in one pass."""
    out = np.empty(addresses.size)
    for k in range(addresses.size):
        if sizes[k] == 0:
            out[k] = 0.0
        elif wide[k]:
            bits64 = numba.carray(_as_pointer(addresses[k]), sizes[k], np.uint64)
            hi64 = np.uint64(0)
            for i in range(bits64.size):
                v64 = bits64[i] & np.uint64(0x7FFFFFFFFFFFFFFF)
                hi64 = v64 if v64 > hi64 else hi64
            out[k] = np.nan if hi64 > np.uint64(0x7FF0000000000000) else _float64(hi64)
        else:
            bits = numba.carray(_as_pointer(addresses[k]), sizes[k], np.uint32)
            hi = np.uint32(0)
            for i in range(bits.size):
                v = bits[i] & np.uint32(0x7FFFFFFF)
                hi = v if v > hi else hi
            out[k] = np.nan if hi > np.uint32(0x7F800000) else _float32(hi)
    return out


@numba.njit(cache=True, nogil=True)
def gather_blocks(addresses: np.ndarray, sizes: np.ndarray, wide: np.ndarray) -> np.ndarray:
    """The dense float32/float64 blocks of :func:`abs_maxima`'s arguments, laid end to end
    in one new float64 array (an exact copy)."""
    out = np.empty(sizes.sum())
    start = 0
    for k in range(addresses.size):
        n = sizes[k]
        if wide[k]:
            out[start : start + n] = numba.carray(_as_pointer(addresses[k]), n, np.float64)
        else:
            out[start : start + n] = numba.carray(_as_pointer(addresses[k]), n, np.float32)
        start += n
    return out


@numba.njit(cache=True, nogil=True)
def gather_float32(addresses: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Dense float32 blocks (``sizes[i]`` elements at ``addresses[i]``) end to end in one
    new float32 array: what ``np.concatenate`` of their flat views gives, in one call."""
    out = np.empty(sizes.sum(), dtype=np.float32)
    start = 0
    for k in range(addresses.size):
        n = sizes[k]
        out[start : start + n] = numba.carray(_as_pointer(addresses[k]), n, np.float32)
        start += n
    return out


@numba.njit(cache=True, nogil=True)
def _squares(now: np.ndarray, before: np.ndarray, start: int) -> tuple[float, float]:
    kept = 0.0
    moved = 0.0
    for i in range(now.size):
        old = before[start + i]
        change = np.float64(now[i]) - old
        kept += old * old
        moved += change * change
    return kept, moved


@numba.njit(cache=True, nogil=True, error_model="numpy")
def group_update_ratios(
    addresses: np.ndarray,
    sizes: np.ndarray,
    wide: np.ndarray,
    before: np.ndarray,
    owner: np.ndarray,
    groups: int,
) -> np.ndarray:
    """||now - before|| / ||before|| of each group of blocks (block ``k`` belongs to group
    ``owner[k]``), as a column, with ``before`` from :func:`gather_blocks` of the same blocks
    and the blocks now at ``addresses``; squares summed in float64. No rows if the blocks
    do not add up to ``before``'s size (a weight was replaced since)."""
    if sizes.sum() != before.size:
        return np.empty((0, 1))
    kept = np.zeros(groups)
    moved = np.zeros(groups)
    start = 0
    for k in range(addresses.size):
        n = sizes[k]
        if wide[k]:
            a, b = _squares(numba.carray(_as_pointer(addresses[k]), n, np.float64), before, start)
        else:
            a, b = _squares(numba.carray(_as_pointer(addresses[k]), n, np.float32), before, start)
        kept[owner[k]] += a
        moved[owner[k]] += b
        start += n
    out = np.empty((groups, 1))
    for g in range(groups):
        out[g, 0] = np.sqrt(moved[g]) / np.sqrt(kept[g])
    return out


@numba.njit(cache=True, nogil=True)
def _float32(bits: np.uint32) -> float:
    return np.float64(np.array([bits]).view(np.float32)[0])


@numba.njit(cache=True, nogil=True)
def _float64(bits: np.uint64) -> float:
    return np.array([bits]).view(np.float64)[0]


def warm_up() -> None:
    """Load (or compile) the kernels for float32 layers now: about 0.6 s from the disk cache,
    a few seconds on a fresh clone. Worker slots call this once, before they fork trials."""
    flat = np.zeros(2, dtype=np.float32)
    segment_stats(flat, np.array([0, 2], dtype=np.int64), np.zeros(0), 1024)
    count_inactive(flat, 0.0, math.nan, False, np.zeros(0))
    blocks = (
        np.array([flat.ctypes.data]),
        np.array([2], dtype=np.int64),
        np.zeros(1, dtype=np.int8),
    )
    abs_maxima(*blocks)
    gather_float32(*blocks[:2])
    group_update_ratios(*blocks, gather_blocks(*blocks), np.zeros(1, dtype=np.int64), 1)
    parts = start_means(np.zeros((1, 1)))
    add_means(np.zeros((1, 1)), *parts)
    combine_means(*parts, np.zeros(1, dtype=np.int64))
