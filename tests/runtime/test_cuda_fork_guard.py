"""A slot refuses to fork trials once CUDA is initialised in it (a context does not survive
fork); on this CPU machine the initialised state is simulated."""

from __future__ import annotations

import pytest
import torch

from bttackler.runtime.worker import cuda_fork_error


def test_no_cuda_no_error() -> None:
    assert not torch.cuda.is_initialized()
    assert cuda_fork_error("task.py") is None


def test_initialised_cuda_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    error = cuda_fork_error("/x/my_task.py")
    assert error is not None
    assert "CUDA was initialised before forking trials" in error
    assert "/x/my_task.py" in error and "run()" in error
    assert "\n" not in error
