"""The compiled kernels: quantiles, extremes, the every-batch check's maxima, update ratios."""

from __future__ import annotations

import numpy as np
import pytest

from bttackler.trialside.kernels import (
    _quantiles_into,
    _sums_fast,
    abs_maxima,
    gather_blocks,
    gather_float32,
    group_update_ratios,
    segment_stats,
)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 10, 33, 100, 1024])
@pytest.mark.parametrize("kind", ["normal", "ties", "sorted", "reversed", "constant"])
def test_quantiles_match_numpy(size: int, kind: str) -> None:
    rng = np.random.default_rng(size)
    values = {
        "normal": rng.standard_normal(size),
        "ties": rng.integers(0, 3, size).astype(np.float64),
        "sorted": np.sort(rng.standard_normal(size)),
        "reversed": np.sort(rng.standard_normal(size))[::-1].copy(),
        "constant": np.full(size, 2.5),
    }[kind]
    row = np.full(14, np.nan)
    _quantiles_into(values.copy(), size, row)
    expected = np.quantile(values, [0.5, 0.75, 0.25])
    np.testing.assert_allclose(row[[2, 5, 6]], expected, rtol=1e-12, atol=0)


def test_quantiles_use_only_the_first_m_values() -> None:
    values = np.array([5.0, 1.0, 3.0, -100.0, 100.0])
    row = np.full(14, np.nan)
    _quantiles_into(values, 3, row)
    np.testing.assert_allclose(row[[2, 5, 6]], np.quantile([5.0, 1.0, 3.0], [0.5, 0.75, 0.25]))


def test_exact_quantiles_of_small_segments_skip_non_finite() -> None:
    flat = np.array([1.0, np.nan, 3.0, np.inf, 2.0, 4.0, 0.0], dtype=np.float32)
    bounds = np.array([0, 4, 7], dtype=np.int64)
    rows = segment_stats(flat, bounds, np.zeros(0), 1024)
    np.testing.assert_allclose(rows[0, [2, 5, 6]], np.quantile([1.0, 3.0], [0.5, 0.75, 0.25]))
    np.testing.assert_allclose(rows[1, [2, 5, 6]], np.quantile([2.0, 4.0, 0.0], [0.5, 0.75, 0.25]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sums_take_exact_extremes_and_zero_counts(dtype: type) -> None:
    """Min, max and the zero count come from integer keys of the floats' bits: exact,
    negative zeros and subnormals included."""
    rng = np.random.default_rng(0)
    for values in (
        rng.standard_normal(1001) * 1e3,
        np.array([-0.0, 0.0, -5e-39, 5e-39, 3.0]),
        np.array([-0.0]),
        np.array([-1e30, -2.0, -3e-30]),
        np.array([7.0]),
    ):
        flat = values.astype(dtype)
        _, _, lo, hi, zeros = _sums_fast(flat)
        assert (lo, hi, zeros) == (flat.min(), flat.max(), int((flat == 0).sum()))


@pytest.mark.parametrize("wide", [False, True])
def test_abs_maxima_tell_nan_inf_and_the_largest_magnitude(wide: bool) -> None:
    dtype = np.float64 if wide else np.float32
    blocks = [
        np.array([1.0, -7.5, 3.0], dtype=dtype),
        np.array([1.0, -np.inf, 2.0], dtype=dtype),
        np.array([np.inf, np.nan, -1.0], dtype=dtype),
        np.zeros(0, dtype=dtype),
        np.array([-0.0], dtype=dtype),
        (np.random.default_rng(1).standard_normal(5000) * 1e14).astype(dtype),
    ]
    got = abs_maxima(
        np.array([b.ctypes.data for b in blocks], dtype=np.int64),
        np.array([b.size for b in blocks], dtype=np.int64),
        np.full(len(blocks), wide, dtype=np.int8),
    )
    want = [7.5, np.inf, np.nan, 0.0, 0.0, float(np.abs(blocks[-1]).max())]
    np.testing.assert_array_equal(got, want)


def test_update_ratios_of_groups_of_blocks() -> None:
    rng = np.random.default_rng(2)
    weights = [rng.standard_normal(n).astype(np.float32) for n in (6, 4, 5)]
    blocks = (
        np.array([w.ctypes.data for w in weights], dtype=np.int64),
        np.array([w.size for w in weights], dtype=np.int64),
        np.zeros(3, dtype=np.int8),
    )
    before = gather_blocks(*blocks)
    np.testing.assert_array_equal(before, np.concatenate(weights).astype(np.float64))
    np.testing.assert_array_equal(gather_float32(*blocks[:2]), np.concatenate(weights))
    old = [w.astype(np.float64) for w in weights]
    for w in weights:
        w += np.float32(0.5)
    ratios = group_update_ratios(*blocks, before, np.array([0, 1, 1], dtype=np.int64), 2)
    first = np.linalg.norm(weights[0] - old[0]) / np.linalg.norm(old[0])
    rest = np.linalg.norm(np.concatenate(weights[1:]) - np.concatenate(old[1:]))
    rest /= np.linalg.norm(np.concatenate(old[1:]))
    np.testing.assert_allclose(ratios[:, 0], [first, rest], rtol=1e-12)
    # blocks that no longer add up to what was kept (a weight replaced): nothing measured
    assert group_update_ratios(*blocks, before[:-1], np.zeros(3, dtype=np.int64), 1).shape == (0, 1)
