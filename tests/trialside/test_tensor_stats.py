from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

from bttackler.core.history import TENSOR_STAT_NAMES as STAT_NAMES
from bttackler.trialside.tensor_stats import tensor_stats


def _as_dict(t: torch.Tensor) -> dict[str, float]:
    assert t.shape == (len(STAT_NAMES),)
    assert t.dtype == torch.float64
    return dict(zip(STAT_NAMES, t.tolist()))


def _reference(a: np.ndarray) -> dict[str, float]:
    f = a[np.isfinite(a)]
    return {
        "mean": f.mean(),
        "var": f.var(),
        "median": np.median(f),
        "min": f.min(),
        "max": f.max(),
        "q75": np.quantile(f, 0.75),
        "q25": np.quantile(f, 0.25),
        "skew": scipy.stats.skew(f),
        "kurt": scipy.stats.kurtosis(f),  # excess, bias=True
        "zero_ratio": float((a == 0).mean()),
        "nan_count": float(np.isnan(a).sum()),
        "inf_count": float(np.isinf(a).sum()),
        "abs_mean": np.abs(f).mean(),
        "abs_max": np.abs(f).max(),
    }


@pytest.mark.parametrize("shape", [(7,), (3, 5), (4, 3, 2, 2)])
def test_small_tensor_matches_numpy_scipy_exactly(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    a = rng.gamma(2.0, size=shape).astype(np.float32) - 1.0
    a.reshape(-1)[0] = 0.0
    got = _as_dict(tensor_stats(torch.from_numpy(a), sample_size=4096))
    want = _reference(a.astype(np.float64))
    for name in STAT_NAMES:
        assert got[name] == pytest.approx(want[name], rel=1e-4, abs=1e-5), name


def test_nan_and_inf_are_counted_and_left_out_of_other_stats() -> None:
    a = np.array([1.0, 2.0, np.nan, 3.0, np.inf, -np.inf, 0.0, np.nan], dtype=np.float32)
    got = _as_dict(tensor_stats(torch.from_numpy(a)))
    want = _reference(a.astype(np.float64))
    assert got["nan_count"] == 2
    assert got["inf_count"] == 2
    assert got["zero_ratio"] == pytest.approx(1 / 8)
    for name in STAT_NAMES:
        assert got[name] == pytest.approx(want[name], rel=1e-5), name


def test_large_tensor_quantiles_are_sampled_within_tolerance() -> None:
    g = torch.Generator().manual_seed(3)
    t = torch.randn(200_000, generator=g) * 2.0 + 1.0
    gen = torch.Generator().manual_seed(0)
    got = _as_dict(tensor_stats(t, sample_size=4096, generator=gen))
    a = t.double().numpy()
    assert got["median"] == pytest.approx(np.median(a), abs=0.1)
    assert got["q75"] == pytest.approx(np.quantile(a, 0.75), abs=0.1)
    assert got["q25"] == pytest.approx(np.quantile(a, 0.25), abs=0.1)
    # moments, extremes and counts use the full tensor
    assert got["mean"] == pytest.approx(a.mean(), abs=1e-4)
    assert got["var"] == pytest.approx(a.var(), rel=1e-4)
    assert got["min"] == pytest.approx(a.min())
    assert got["max"] == pytest.approx(a.max())
    assert got["kurt"] == pytest.approx(scipy.stats.kurtosis(a), abs=1e-3)


def test_sampling_is_reproducible_with_a_seeded_generator() -> None:
    t = torch.randn(50_000)
    a = tensor_stats(t, sample_size=100, generator=torch.Generator().manual_seed(7))
    b = tensor_stats(t, sample_size=100, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_constant_tensor_has_nan_shape_moments() -> None:
    got = _as_dict(tensor_stats(torch.zeros(10)))
    assert got["var"] == 0.0
    assert math.isnan(got["skew"])
    assert math.isnan(got["kurt"])
    assert got["zero_ratio"] == 1.0


def test_all_non_finite_tensor() -> None:
    got = _as_dict(tensor_stats(torch.tensor([float("nan"), float("inf")])))
    assert got["nan_count"] == 1
    assert got["inf_count"] == 1
    assert got["zero_ratio"] == 0.0
    for name in ("mean", "var", "median", "min", "max", "abs_mean", "abs_max", "q25"):
        assert math.isnan(got[name]), name


def test_half_precision_and_empty_tensors() -> None:
    got = _as_dict(tensor_stats(torch.tensor([1.0, 3.0], dtype=torch.float16)))
    assert got["mean"] == 2.0
    empty = tensor_stats(torch.empty(0))
    assert torch.isnan(empty).all()


def test_sample_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="sample_size"):
        tensor_stats(torch.ones(3), sample_size=0)


@pytest.mark.parametrize("size", [7, 1000, 10_000])
@pytest.mark.parametrize("poison", [False, True])
def test_device_path_agrees_with_the_cpu_path(size, poison):
    """The torch path (used on GPUs) and the numpy path (CPU) compute the same numbers."""
    from bttackler.trialside.tensor_stats import _torch_stats

    x = torch.randn(size, generator=torch.Generator().manual_seed(size))
    x[:3] = 0.0
    if poison:
        x[3], x[4] = float("nan"), float("inf")
    a = tensor_stats(x, sample_size=4096, generator=torch.Generator().manual_seed(1)).numpy()
    draws = (
        None
        if size <= 4096
        else torch.rand(4096, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    )
    b = _torch_stats(x, 4096, draws, finite=not poison).numpy()
    assert np.allclose(a, b, rtol=1e-4, atol=1e-5, equal_nan=True), (a, b)


def _assert_batched_equals_one_by_one(tensors: list[torch.Tensor], seed: int) -> None:
    """Every row as tensor_stats gives it with a generator in the same state (one set of
    draws serves every sampled tensor)."""
    from bttackler.trialside.tensor_stats import stats_matrix

    batched = stats_matrix(tensors, generator=torch.Generator().manual_seed(seed))
    single = [tensor_stats(t, generator=torch.Generator().manual_seed(seed)) for t in tensors]
    for a, b in zip(batched, single):
        assert np.allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-9, equal_nan=True), (a, b)


def test_stats_matrix_rows_equal_one_by_one():
    g = torch.Generator().manual_seed(3)
    poisoned = torch.tensor([1.0, float("nan"), float("inf"), 0.0])
    tensors = [
        torch.randn(5, generator=g),
        torch.zeros(0),
        torch.randn(6000, generator=g),
        torch.full((4,), 2.0),
        poisoned,
    ]
    _assert_batched_equals_one_by_one(tensors, seed=7)


def test_stats_matrix_shares_the_draws_after_a_tensor_with_no_finite_value():
    g = torch.Generator().manual_seed(4)
    tensors = [torch.full((5000,), float("nan")), torch.randn(9000, generator=g)]
    _assert_batched_equals_one_by_one(tensors, seed=2)


def test_device_path_of_stats_matrix_agrees_with_the_kernel():
    """The accelerator path of stats_matrix (torch ops, run here on the CPU) shares its
    draws the same way the kernel does."""
    from bttackler.trialside.tensor_stats import _device_stats, _draws, stats_matrix

    g = torch.Generator().manual_seed(5)
    tensors = [torch.randn(n, generator=g) for n in (50, 6000, 20_000)]
    kernel = stats_matrix(tensors, generator=torch.Generator().manual_seed(9))
    draws = _draws(tensors[2], 4096, torch.Generator().manual_seed(9))
    device = [_device_stats(t, 4096, draws if t.numel() > 4096 else None, False) for t in tensors]
    assert np.allclose(kernel.numpy(), torch.stack(device).numpy(), rtol=1e-4, atol=1e-5)


def test_fast_and_careful_paths_agree_on_the_finite_values():
    """The vectorised path (no NaN/Inf) and the masking path give the same moments."""
    x = torch.randn(3000, generator=torch.Generator().manual_seed(8))
    poisoned = torch.cat([x, torch.tensor([float("nan"), float("inf")])])
    clean = _as_dict(tensor_stats(x, sample_size=10_000))
    masked = _as_dict(tensor_stats(poisoned, sample_size=10_000))
    for name in ("mean", "var", "skew", "kurt", "min", "max", "abs_mean", "abs_max", "median"):
        assert masked[name] == pytest.approx(clean[name], rel=1e-9, abs=1e-12), name
