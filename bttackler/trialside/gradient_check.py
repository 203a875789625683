"""The probe's every-batch gradient check and, on the CPU, the stash that batches it.

On every training batch, as a torch optimizer stepping these weights steps (a global
optimizer step pre-hook: after backward and any clipping, before the update), one fused
reduction (on the CPU, one kernel call) gives each weight gradient's max |g|: NaN if it holds
a NaN, Inf if an Inf, and no sum, so large finite float16 values cannot overflow into a fake
Inf. The maxima are folded into the epoch's gradient ``abs_max``. On the CPU reading them
costs no sync; the checks of up to 4 batches run together, in one kernel call on each batch's
own gradients (kept until then: 64 MB at most, else each batch is checked at once, as when
the optimizer zeroes its gradients in place), at the fourth, a sampled batch or ``flush``, so
a non-finite gradient is reported within 3 checked batches of the one it appears in, with
that batch's index. On an accelerator they are kept on the device (the maxima and the NaN/Inf
seen) and read, one sync, at sampled batches and every ``check_every``-th batch once
``check_seconds`` have passed since the last read, and at ``flush``. Without such an optimizer
(a hand-written update) the check runs at the end of the backward of sampled batches and of
every ``check_every``-th batch (``check_seconds`` apart): a NaN/Inf gradient poisons the
weights, so the next check still sees it. A layer found non-finite is emitted at once as
``"nonfinite"`` with ``[nan_count, inf_count, batch]``: exact counts over its current gradient
(at least 1 of the seen kind if the gradient has recovered since), and the batch index of the
check. At most once per layer per epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from bttackler.trialside.host_blocks import host_blocks
from bttackler.trialside.kernels import abs_maxima
from bttackler.trialside.probe_budget import CheckBudget
from bttackler.trialside.probe_layers import Layer

Emit = Callable[[str, int, str, Sequence[float]], None]
_STASH = 4  # on the CPU, checks run together (one kernel call) for up to this many batches
_STASH_BYTES = 64 << 20  # ... while their gradients take at most this much memory


class GradientCheck:
    """The every-batch check of the weight gradients ``params`` (each of the layer at the
    same place in ``param_layer``), reporting non-finite layers through ``emit`` and keeping
    the epoch's max |g| of each parameter (see the module docs).

    Args:
        check_every: on an accelerator, batches between two reads of the check (one host
            sync each); without a torch optimizer, between two checks.
        check_seconds: wall time since the last read (check) below which a batch due for
            one is not read (checked).
        budget: on the CPU, which batches are checked at their optimizer's step.
    """

    def __init__(
        self,
        params: list[Tensor],
        param_layer: list[Layer],
        emit: Emit,
        *,
        check_every: int,
        check_seconds: float,
        budget: CheckBudget,
    ) -> None:
        self.params = params
        self._param_layer = param_layer
        self._emit = emit
        self.check_every = check_every
        self._check_seconds = check_seconds
        self._budget = budget
        self._last_check = -math.inf  # the first check is due at once
        # every batch's max |g| per parameter this epoch (finite ones; -inf: none yet) and,
        # on an accelerator, the NaN (1) / Inf (2) seen since the last host sync
        self.grad_max: list[float] | Tensor | None = None
        self._unsynced: Tensor | None = None
        self.device_path = False  # tests: take the accelerator's path on the CPU
        self.checked = -1  # the batch whose gradients were checked last
        # On the CPU the checks of up to _STASH batches are run together, in one kernel call
        # (each call is ~70 us of cold caches after a training step, whatever it reads):
        # their gradients are kept (the references: an optimizer zeroing them in place, seen
        # as the same tensors twice, turns this off) until then, or a sample, or flush.
        self._stash: list[tuple[int, list[Tensor | None]]] = []
        self.stash_size = 1  # 1 until the second check shows fresh gradient tensors
        self._last_grads: list[Tensor | None] | None = None
        self._reported: set[int] = set()
        grad_bytes = sum(p.numel() * p.element_size() for p in params)
        self._defers = grad_bytes * _STASH <= _STASH_BYTES  # may keep checks for later
        self.layer_params: dict[int, list[int]] = {}  # id(layer) -> its indices in params
        for i, sub in enumerate(param_layer):
            self.layer_params.setdefault(id(sub), []).append(i)

    def on_host(self) -> bool:
        """Whether the weights live on the CPU (where reading the check needs no sync)."""
        return bool(self.params) and self.params[0].is_cpu and not self.device_path

    def seconds_passed(self) -> bool:
        return time.perf_counter() - self._last_check >= self._check_seconds

    def at_optimizer_step(self, batch: int) -> None:
        """The check of ``batch`` as an optimizer stepping these weights steps: on the host
        within the check budget (kept in the stash), elsewhere read every ``check_every``-th
        batch."""
        self.checked = batch
        if self.on_host():  # reading it costs no sync, but it is the training thread's time
            if self._budget.due(batch):
                began = time.perf_counter()
                self._stash_check(batch)
                self._budget.spent(time.perf_counter() - began)
            return
        sync = (batch + 1) % self.check_every == 0
        self.check(batch, sync and self.seconds_passed())

    def after_backward(self, batch: int, sync: bool) -> set[int] | None:
        """The check at the end of ``batch``'s backward (the kept checks first: their batches
        are earlier); see :meth:`check`."""
        self.drain()
        bad = self.check(batch, sync)
        self.checked = batch
        return bad

    def at_flush(self, last: int) -> set[int] | None:
        """The epoch's ``last`` batch's gradients, in case no check covered them; see
        :meth:`check`."""
        if self.on_host() and self.checked == last:
            return set()  # checked as its optimizer stepped
        return self.check(last, sync=True)

    def end_epoch(self) -> None:
        if isinstance(self.grad_max, list):
            self.grad_max = [-math.inf] * len(self.grad_max)
        elif self.grad_max is not None:
            self.grad_max.fill_(-math.inf)
        self._last_check = time.perf_counter()
        self._budget.start_epoch()
        self.checked = -1
        self._reported.clear()

    def close(self) -> None:
        self._stash.clear()
        self._last_grads = None

    def _stash_check(self, batch: int) -> None:
        """The host's every-batch check of ``batch``, kept for :meth:`drain` (which runs
        now when the stash is full)."""
        grads = [p.grad for p in self.params]
        last = self._last_grads
        if last is not None and self.stash_size == 1 and self._defers:
            fresh = all(a is None or a is not b for a, b in zip(last, grads))
            self.stash_size = _STASH if fresh else 1
            self._defers = fresh
        self._last_grads = grads if self._defers else None
        self._stash.append((batch, grads))
        if len(self._stash) >= self.stash_size:
            self.drain()

    def drain(self) -> None:
        """Run the kept checks: every batch's maxima by one kernel call, folded in order."""
        if not self._stash:
            return
        stash, self._stash = self._stash, []
        if len(stash) == 1:
            self.check(stash[0][0], True, stash[0][1])
            return
        every = [g for _, grads in stash for g in grads]
        listed = host_abs_maxima(every) if any(g is not None for g in every) else None
        n = len(self.params)
        for k, (batch, grads) in enumerate(stash):
            if listed is None or all(g is None for g in grads):
                self.check(batch, True, grads)  # the general path
            else:
                self._fold_host(batch, listed[k * n : (k + 1) * n], grads)

    def check(
        self, batch: int, sync: bool, grads: list[Tensor | None] | None = None
    ) -> set[int] | None:
        """The every-batch check: one fused reduction gives each weight gradient's max |g|
        (NaN if it holds a NaN, Inf if an Inf; no sum, so no overflow of large finite
        float16 values), folded into the epoch's maxima. When ``sync``, the non-finite ones
        seen since the last sync are read on the host (one sync on an accelerator; nothing
        on the CPU), newly non-finite layers are emitted, and the indices of all the
        non-finite layers are returned. None: no gradient yet, or not synced. ``grads``:
        the gradients of ``batch`` kept since (default: the current ones)."""
        if not self.params:  # no weighted layer: nothing to check
            return None
        kept = grads is not None
        if grads is None:
            grads = [p.grad for p in self.params]
        if all(g is None for g in grads):  # no gradient yet
            return None
        # on the host, one kernel call; else (or for other dtypes) torch's fused reduction
        listed = host_abs_maxima(grads) if self.on_host() else None
        if listed is None:
            if any(g is None for g in grads):  # a frozen or unused weight
                zero = self.params[0].detach().new_zeros(())  # 0 changes no maximum
                grads = [zero if g is None else g for g in grads]
            maxima = gradient_abs_maxima(grads)  # type: ignore[arg-type]
            if maxima.device.type == "cpu" and not self.device_path:
                listed = maxima.tolist()
        if listed is not None:
            return self._fold_host(batch, listed, grads if kept else None)
        else:
            finite_t = torch.isfinite(maxima)
            kind = torch.where(torch.isnan(maxima), 1, 2) * ~finite_t
            if (
                not isinstance(self.grad_max, Tensor)
                or self.grad_max.device != maxima.device
                or self._unsynced is None
            ):
                self.grad_max = torch.full_like(maxima, -math.inf, dtype=torch.float32)
                self._unsynced = torch.zeros_like(kind)
            folded = torch.where(finite_t, maxima, -math.inf).to(torch.float32)
            torch.maximum(self.grad_max, folded, out=self.grad_max)  # type: ignore[arg-type]
            torch.maximum(self._unsynced, kind, out=self._unsynced)
            if not sync:
                return None
            kinds = self._unsynced.cpu().numpy().copy()  # the one sync (a copy: reset next)
            self._unsynced.zero_()
            self._last_check = time.perf_counter()
        return self._report(batch, kinds, None)

    def _fold_host(
        self, batch: int, listed: list[float], kept: list[Tensor | None] | None
    ) -> set[int]:
        """Fold one batch's maxima (host floats) into the epoch's; report the non-finite
        (``kept``: that batch's gradients, if not the current ones)."""
        # on the host, Python floats beat numpy's per-call costs on a few values
        high = self.grad_max
        if not isinstance(high, list):
            high = [-math.inf] * len(listed)
        if math.isfinite(sum(listed)):  # the usual case (a false alarm is checked below)
            self.grad_max = list(map(max, high, listed))
            return set()
        values = np.array(listed)
        finite = np.isfinite(values)
        self.grad_max = np.maximum(high, np.where(finite, values, -np.inf)).tolist()
        kinds = np.where(np.isnan(values), 1, np.where(finite, 0, 2))
        return self._report(batch, kinds, kept)

    def _report(self, batch: int, kinds: np.ndarray, kept: list[Tensor | None] | None) -> set[int]:
        """Emit the layers newly found non-finite (``kinds`` per parameter: 1 NaN, 2 Inf);
        the indices of all the non-finite ones."""
        bad = set()
        for i in np.flatnonzero(kinds).tolist():
            layer = self._param_layer[i]
            if layer.index < 0:
                continue
            bad.add(layer.index)
            if layer.index in self._reported:
                continue
            self._reported.add(layer.index)
            if kept is None:
                layer_grads = [q.grad for q in layer.weights if q.grad is not None]
            else:  # the batch's own gradients, kept since
                owned = self.layer_params.get(id(layer), [])
                layer_grads = [g for g in (kept[j] for j in owned) if g is not None]
            nans = sum(int(torch.isnan(g).sum()) for g in layer_grads)  # counts: no overflow
            infs = sum(int(torch.isinf(g).sum()) for g in layer_grads)
            if nans == 0 and infs == 0:  # seen between two syncs, recovered since
                nans, infs = (1, 0) if kinds[i] == 1 else (0, 1)
            self._emit("nonfinite", layer.index, layer.name, [float(nans), float(infs), batch])
        return bad


def host_abs_maxima(grads: Sequence[Tensor | None]) -> list[float] | None:
    """:func:`gradient_abs_maxima` of CPU gradients, by one compiled kernel call over their
    memory (0 for a None), as floats: the same values, without a torch call per gradient
    (two each, plus an absolute copy of every one, made the check ~20 us on the default
    task's 7 weights, ~5% of its 4 ms steps had it run on every batch). None when one is not
    a dense float32/float64 CPU tensor: the caller takes the torch path."""
    blocks = host_blocks(grads)
    return None if blocks is None else abs_maxima(*blocks).tolist()  # type: ignore[no-any-return]


def gradient_abs_maxima(grads: list[Tensor]) -> Tensor:
    """Each tensor's max |g| as one vector, by one fused reduction (NaN where a tensor holds
    a NaN, Inf where an Inf and no NaN; float16 stays exact: nothing is summed). On the CPU
    ``abs`` then ``max`` (torch's inf-norm is several times slower there); elsewhere the
    fused inf-norm, which reads each gradient once and allocates nothing per element."""
    if grads[0].device.type == "cpu":
        maxima = torch._foreach_max(torch._foreach_abs(grads))
    else:
        maxima = torch._foreach_norm(grads, ord=math.inf)
    return torch.stack(maxima)  # promotes mixed dtypes
