import math

import numpy as np
import pytest
import torch
from torch import nn

from bttackler.trialside.kernels import count_inactive
from bttackler.trialside.probe_layers import (
    Layer,
    SampleMeans,
    activation_rule,
    host_rows,
    inactive_mask,
)


def _layer(name: str) -> Layer:
    return Layer(name, "Linear", [], 0)


def _torch_rows(values: list[list[float]]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _numpy_rows(values: list[list[float]]) -> np.ndarray:
    return np.array(values, dtype=np.float64)


ROWS = pytest.mark.parametrize("rows", [_torch_rows, _numpy_rows], ids=["device", "host"])


@ROWS
def test_sample_means_average_whole_matrices_and_skip_nan(rows):
    a, b = _layer("a"), _layer("b")
    means = SampleMeans()
    entries = [(a, "grad"), (b, "grad")]
    means.add(entries, rows([[1.0, float("nan")], [3.0, 4.0]]))
    means.add(entries, rows([[3.0, float("nan")], [5.0, 8.0]]))
    got = means.means()
    assert got is not None
    assert got[0] == entries
    assert type(got[1]) is type(rows([[0.0]]))
    assert got[1][0, 0].item() == 2.0 and math.isnan(got[1][0, 1].item())
    assert got[1][1].tolist() == [4.0, 6.0]
    assert means.covers(a, "grad") and not means.covers(a, "weight")
    means.clear()
    assert means.means() is None


@ROWS
def test_sample_means_merge_entries_that_changed_within_the_epoch(rows):
    a, b = _layer("a"), _layer("b")
    means = SampleMeans()
    means.add([(a, "grad"), (b, "grad")], rows([[1.0], [10.0]]))
    means.add([(b, "grad")], rows([[20.0]]))  # a had no gradient
    got = means.means()
    assert got is not None
    rows = {layer.name: row.tolist() for (layer, _), row in zip(got[0], got[1])}
    assert rows == {"a": [1.0], "b": [15.0]}


@ROWS
def test_sample_means_combine_extremes_by_max_and_min_and_counts_by_sum(rows):
    """Columns 0: mean, 1: max, 2: min, 3: a count; NaN samples are left out of each."""
    a, b = _layer("a"), _layer("b")
    means = SampleMeans(maxima=(1,), minima=(2,), sums=(3,))
    nan = float("nan")
    entries = [(a, "grad"), (b, "grad")]
    means.add(entries, rows([[1.0, 5.0, -1.0, 2.0], [nan, nan, nan, nan]]))
    means.add(entries, rows([[3.0, 9.0, -4.0, 0.0], [nan, 1.0, nan, nan]]))
    means.add(entries, rows([[nan, 2.0, -2.0, 1.0], [nan, nan, nan, nan]]))
    got = means.means()
    assert got is not None
    assert got[1][0].tolist() == [2.0, 9.0, -4.0, 3.0]
    assert [math.isnan(v) for v in got[1][1].tolist()] == [True, False, True, True]
    assert got[1][1, 1].item() == 1.0


@ROWS
def test_sample_means_merge_keeps_the_combining_rules(rows):
    a, b = _layer("a"), _layer("b")
    means = SampleMeans(maxima=(1,), sums=(2,))
    means.add([(a, "grad"), (b, "grad")], rows([[1.0, 1.0, 1.0], [10.0, 10.0, 1.0]]))
    means.add([(b, "grad")], rows([[20.0, 3.0, 2.0]]))
    got = means.means()
    assert got is not None
    merged = {layer.name: row.tolist() for (layer, _), row in zip(got[0], got[1])}
    assert merged == {"a": [1.0, 1.0, 1.0], "b": [15.0, 10.0, 3.0]}


@pytest.mark.parametrize(
    "module",
    [nn.ReLU(), nn.GELU(), nn.Softplus(beta=2.0), nn.Tanh(), nn.Sigmoid(), nn.Hardtanh(-2.0, 3.0)],
    ids=lambda m: type(m).__name__,
)
def test_kernel_and_torch_count_the_same_inactive_outputs(module: nn.Module) -> None:
    rule = activation_rule(module)
    assert rule is not None
    values = torch.linspace(-4.0, 4.0, 801, dtype=torch.float64)
    bounds = torch.tensor([rule.low, rule.high, math.nan, math.inf], dtype=torch.float64)
    values = torch.cat([values, module(values), bounds])  # outputs, and exactly the bounds
    expected = int(torch.count_nonzero(inactive_mask(values, rule)))
    assert count_inactive(values.numpy(), *rule, np.zeros(0)) == expected
    assert 0 < expected < len(values)


def test_count_inactive_on_sampled_positions() -> None:
    values = np.array([-1.0, 1.0, 2.0, -3.0], dtype=np.float32)
    draws = np.array([0.0, 0.1, 0.3, 0.99, 0.999])  # positions 0, 0, 1, 3, 3
    assert count_inactive(values, 0.0, math.nan, False, draws) == 4


def test_activation_rules_follow_the_class_hierarchy() -> None:
    assert activation_rule(nn.ReLU6()) == activation_rule(nn.ReLU())  # not a Hardtanh
    assert activation_rule(nn.Linear(1, 1)) is None
    assert activation_rule(nn.Softplus(beta=2.0)).low == pytest.approx(math.log(2.0) / 2)


def test_host_rows_copy_device_parts_once_and_keep_the_order() -> None:
    matrix = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # device parts (here on the CPU)
    vector = torch.tensor([5.0], dtype=torch.float32)
    host = np.array([0.25, 0.5])
    assert host_rows([matrix, host, vector]) == [[1.0, 2.0], [3.0, 4.0], [0.25], [0.5], [5.0]]
    assert host_rows([]) == []
