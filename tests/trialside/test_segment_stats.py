"""The compiled kernel's selection-based quantiles against numpy's."""

from __future__ import annotations

import numpy as np
import pytest

from bttackler.trialside.segment_stats import _quantiles_into, segment_stats


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
