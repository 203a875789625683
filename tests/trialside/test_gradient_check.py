"""The every-batch check's two reductions: the host kernel's and torch's."""

from __future__ import annotations

import torch

from bttackler.trialside.gradient_check import gradient_abs_maxima, host_abs_maxima


def test_host_check_gives_the_torch_checks_maxima() -> None:
    """The CPU's kernel check reads the gradients' memory: the same values as the torch
    reduction, 0 for a missing gradient; other dtypes and layouts go to torch."""
    grads = [
        torch.randn(3, 4) * 1e20,
        torch.randn(5, dtype=torch.float64),
        torch.tensor([1.0, float("nan"), float("inf")]),
        torch.tensor([-float("inf"), 2.0]),
        torch.zeros(0),
    ]
    want = gradient_abs_maxima(grads[:4]).tolist() + [0.0]
    got = host_abs_maxima(grads)
    assert got is not None
    assert [str(v) for v in got] == [str(v) for v in want]
    assert host_abs_maxima([None, grads[0]]) == [0.0, grads[0].abs().max().item()]
    assert host_abs_maxima([torch.randn(4, 4).t()]) is None  # not contiguous
    assert host_abs_maxima([torch.randn(4, dtype=torch.float16)]) is None
