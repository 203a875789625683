"""Trial-side tracing of per-layer weights, gradients and activations (paper section 3.3).

A :class:`Probe` hooks a ``torch.nn.Module`` and, through ``emit(kind, index, name, values)``,
reports per-layer statistics once per epoch (``flush``) plus immediate non-finite alarms.

What counts as a layer, in the order of its first call in the forward pass (one index space
shared by weighted and activation layers, ``0`` = nearest the input):

* weighted layers: ``Linear``, ``Conv1d/2d/3d``, ``ConvTranspose1d/2d/3d``, ``RNN/LSTM/GRU``
  (one layer holding every ``weight_*`` matrix of every stacked layer), ``Embedding`` and
  ``EmbeddingBag``. A ``MultiheadAttention`` (also inside ``Transformer*Layer``) becomes two
  layers, ``<name>.in_proj`` (the packed q/k/v projection, or the three separate ones
  concatenated) and ``<name>.out_proj``. Statistics cover the weight matrices, not biases;
  the ``"layer"`` record's ``num_params`` counts every parameter of the layer.
* activation modules (see :data:`bttackler.trialside.probe_layers.ACTIVATION_RULES`).
  Functional activations
  (``torch.relu(x)`` in ``forward``, the default ``activation`` of ``Transformer*Layer``)
  cannot be hooked and are not recorded. A module called several times (one ``nn.ReLU``
  reused after every conv) is one layer, indexed at its first call, pooling all its calls.

Sampling, to keep the overhead low: a batch is a training forward pass with autograd on (and
its backward). Gradient statistics are computed on every ``k``-th batch of the epoch
(0, k, 2k, ...; ``k = stats_every``, raised after each epoch so that at most ``max_samples``
batches are sampled, and fewer when ``overhead_budget`` says so) and *averaged* over them
(NaN-aware: a NaN statistic, e.g. the skew of a constant tensor, is left out of the mean;
``nan_count``/``inf_count`` are thus mean counts per sampled batch). Activation ratios are
measured on the same sampled forward passes (``module.training`` only, so
``model.eval()`` validation is ignored), on ``sample_size`` random outputs per call when the
output has more than ``64 * sample_size``. Weight statistics are taken on the same sampled
batches, in the same batched call as the gradients (the weights the gradients were computed
with, before the optimizer steps), and averaged the same way; a layer with no sampled batch
in the epoch gets the statistics of its weights at ``flush``. On the CPU every statistic is
computed by one compiled kernel call per sampled batch, and each activation count by one
more (:mod:`bttackler.trialside.segment_stats`). On an accelerator all of it stays on the
device until ``flush`` copies everything to the host in one go.

Non-finite check: only sampled batches and every ``check_every``-th batch are watched (their
forward and backward get a hook; every other batch costs one Python call), the latter only
when ``check_seconds`` have passed since the last check: an epoch shorter than that is
checked at its sampled batch and at ``flush``, which comes as soon. On those, and at
``flush``, the sum of each weight gradient (NaN or Inf if any element is; also Inf if the sum
itself overflows) is taken on the device and copied to the host (one sync each); a NaN/Inf
gradient poisons the weights through the optimizer, so the next watched batch still sees it.
On accelerators, sampled batches use the check to pick the fast path of :func:`tensor_stats`
for finite gradients; on the CPU a sampled batch needs no separate check, its statistics
count NaN and Inf exactly. A layer found non-finite is emitted at once as ``"nonfinite"`` with
``[nan_count, inf_count, batch]``: exact counts over its current gradient (at least 1 of the
seen kind if the gradient has recovered since), and the batch index of the check, which is at
most ``check_every - 1`` batches (or ``check_seconds``) after the one that went bad. At most
once per layer per epoch.

Limitations: one device per model; ``emit`` may be called from autograd's backward thread
(``"nonfinite"``); hooks need ``model(...)`` to be called (not ``model.some_method()``); the
end-of-backward callback uses torch's ``_execution_engine.queue_callback`` (as DDP does).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from bttackler.core.history import STAT_NAMES
from bttackler.trialside.probe_budget import SamplingBudget
from bttackler.trialside.probe_layers import (
    WEIGHTED_TYPES,
    Entry,
    Inactive,
    Layer,
    SampleMeans,
    activation_rule,
    count_inactive_outputs,
    first_grad_tensor,
    flat_cat,
    host_rows,
    weighted_layer,
)
from bttackler.trialside.tensor_stats import cpu_stats_rows, flat_array, stats_matrix

Emit = Callable[[str, int, str, Sequence[float]], None]
_NONFINITE_COLUMNS = [STAT_NAMES.index("nan_count"), STAT_NAMES.index("inf_count")]
# how each statistic combines over the sampled batches of an epoch (the rest: means)
_MAXIMA = [STAT_NAMES.index("max"), STAT_NAMES.index("abs_max")]
_MINIMA = [STAT_NAMES.index("min")]


class Probe:
    """Hooks ``model`` and reports per-layer statistics through ``emit`` (see module docs).

    Args:
        model: the module to watch; hooks are installed now and removed by :meth:`close`.
        emit: ``emit(kind, layer_index, layer_name, values)``; kinds ``"layer"``,
            ``"weight"``, ``"grad"``, ``"activation"`` and ``"nonfinite"``.
        check_every: batches between two non-finite checks (one host sync each).
        check_seconds: wall time since the last check below which a batch due for a check
            is not checked (fast models: the check at flush is as timely).
        sample_size: elements sampled per tensor for median and quartiles (exact below that
            size; 1,024 draws put the median within about 0.04 standard deviations), and
            per activation output for the inactive ratio.
        stats_every: gradient statistics and activation ratios on every k-th batch (at least).
        max_samples: at most this many sampled batches per epoch: after each epoch the
            sampling stride grows to ``ceil(batches / max_samples)`` when that is larger than
            ``stats_every``, so long epochs (small batches) cost no more than short ones.
        overhead_budget: share of the epoch's time the sampled batches and the flush may
            take: a batch due for sampling is skipped while the probe's time this epoch
            (plus the last flush) is over budget, and the next epoch's stride is set from
            what a sample cost; the first batch of an epoch is always sampled. ``None``: no
            time budget.
        seed: seed of the quantile sampling generator.
        clock: the overhead budget's clock, in seconds. Default: the training thread's CPU
            time (other processes sharing the machine do not inflate it), switching to wall
            time once the gradients turn out to live on an accelerator.
    """

    def __init__(
        self,
        model: nn.Module,
        emit: Emit,
        *,
        check_every: int = 10,
        check_seconds: float = 1.0,
        sample_size: int = 1024,
        stats_every: int = 10,
        max_samples: int = 8,
        overhead_budget: float | None = 0.01,
        seed: int = 0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        for arg, value in (
            ("check_every", check_every),
            ("sample_size", sample_size),
            ("stats_every", stats_every),
            ("max_samples", max_samples),
        ):
            if value < 1:
                raise ValueError(f"{arg} must be >= 1, got {value}")
        if check_seconds < 0:
            raise ValueError(f"check_seconds must be >= 0, got {check_seconds}")
        self._emit = emit
        self._check_every = check_every
        self._check_seconds = check_seconds
        self._last_check = time.perf_counter()
        self._sample_size = sample_size
        self._budget = SamplingBudget(stats_every, max_samples, overhead_budget, clock)
        self._means = SampleMeans(_MAXIMA, _MINIMA, _NONFINITE_COLUMNS)
        self._seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}
        self._ordered: list[Layer] = []  # weighted and activation layers, by index
        self._weighted: list[Layer] = []
        self._activations: list[Layer] = []
        self._initialized = False
        self._forwards = 0  # training forward passes with autograd on, this epoch
        self._armed = False  # this training forward pass is a sampled one
        self._due: tuple[int, bool] | None = None  # (batch, sampled) if its backward is watched
        self._in_backward = False
        self._reported: set[int] = set()
        self._handles: list[RemovableHandle] = []
        self._params: list[Tensor] = []
        self._param_layer: list[Layer] = []
        self._end_handle: RemovableHandle | None = None  # the one-shot forward hook
        # activation hooks are installed only for the sampled forward passes (hooks cost)
        self._act_modules: list[tuple[nn.Module, Callable[..., None]]] = []
        self._act_handles: list[RemovableHandle] = []

        skip = {id(m.out_proj) for m in model.modules() if isinstance(m, nn.MultiheadAttention)}
        for name, m in model.named_modules():
            rule = activation_rule(m)
            if rule is not None:
                layer = Layer(name, type(m).__name__, [], 0)
                self._act_modules.append((m, partial(self._on_activation, layer, rule)))
            elif isinstance(m, WEIGHTED_TYPES + (nn.MultiheadAttention,)) and id(m) not in skip:
                layer = weighted_layer(name, m)
                handle_box: list[RemovableHandle] = []
                hook = partial(self._on_first_call, layer, handle_box)
                handle_box.append(m.register_forward_hook(hook))
                self._handles.append(handle_box[0])
                for sub in layer.sub or [layer]:
                    for p in sub.weights:
                        if p.requires_grad and all(p is not q for q in self._params):
                            self._params.append(p)
                            self._param_layer.append(sub)
        self._handles.append(model.register_forward_pre_hook(self._on_forward_pre))

    @property
    def sampling_stride(self) -> int:
        """Gradient statistics are taken on every ``sampling_stride``-th batch of an epoch."""
        return self._budget.stride

    @property
    def sampled_batches(self) -> int:
        """Batches whose gradient statistics were taken so far this epoch."""
        return self._budget.samples

    @property
    def layers(self) -> list[tuple[int, str, str]]:
        """``(index, name, module type)`` of every layer seen so far, in forward order."""
        return [(layer.index, layer.name, layer.type_name) for layer in self._ordered]

    # ---- forward side -------------------------------------------------------------------
    def _add(self, layer: Layer, bucket: list[Layer]) -> None:
        layer.index = len(self._ordered)
        self._ordered.append(layer)
        bucket.append(layer)
        if self._initialized:
            self._emit("layer", layer.index, layer.name, [float(layer.num_params)])

    def _on_forward_pre(self, module: nn.Module, args: Any) -> None:
        if module.training and torch.is_grad_enabled():  # a training batch
            batch = self._forwards
            self._forwards = batch + 1
            sample_due = batch % self._budget.stride == 0
            check_due = (batch + 1) % self._check_every == 0
            if not (sample_due or check_due) and self._initialized and self._end_handle is None:
                return  # neither sampled nor due for a check: this call is the probe's cost
            self._armed = sample_due and self._budget.due(batch)
            checked = self._armed or (
                check_due and time.perf_counter() - self._last_check >= self._check_seconds
            )
            self._due = (batch, self._armed) if checked else None
        else:  # validation, or a forward without autograd: not watched
            self._armed, self._due = False, None
            if self._initialized:
                return
        if self._armed or not self._initialized:
            self._act_handles = [m.register_forward_hook(h) for m, h in self._act_modules]
        if (self._armed or self._due is not None or not self._initialized) and not self._end_handle:
            # a forward hook only for the forwards that need one
            self._end_handle = module.register_forward_hook(self._on_forward_end)

    def _on_forward_end(self, module: nn.Module, args: Any, output: Any) -> None:
        if self._end_handle is not None:
            self._end_handle.remove()
            self._end_handle = None
        for handle in self._act_handles:
            handle.remove()
        self._act_handles = []
        if not self._initialized:
            self._initialized = True
            for layer in self._ordered:
                self._emit("layer", layer.index, layer.name, [float(layer.num_params)])
        if self._due is not None:
            # The end of the backward pass through this output is when every .grad is final:
            # one tensor hook per watched forward (sampled or due for the NaN/Inf check), none
            # on the others, cheaper than a hook per parameter.
            out = first_grad_tensor(output)
            if out is not None:
                self._in_backward = False
                out.register_hook(partial(self._on_output_grad, *self._due))
            self._due = None

    def _on_first_call(
        self, layer: Layer, handle: list[RemovableHandle], m: nn.Module, a: Any, o: Any
    ) -> None:
        handle[0].remove()
        for sub in layer.sub or [layer]:
            self._add(sub, self._weighted)

    def _on_activation(
        self, layer: Layer, rule: Inactive, m: nn.Module, args: Any, output: Any
    ) -> None:
        if layer.index < 0:
            self._add(layer, self._activations)
        if not (self._armed and m.training and isinstance(output, Tensor)):
            return
        count, total = count_inactive_outputs(
            output.detach(), rule, self._sample_size, self._generator
        )
        layer.inactive = count if layer.inactive is None else layer.inactive + count
        layer.total += total

    # ---- backward side ------------------------------------------------------------------
    def _on_output_grad(self, batch: int, sampled: bool, grad: Tensor) -> None:
        if not self._in_backward:
            self._in_backward = True
            callback = partial(self._on_backward_end, batch, sampled)
            torch.autograd.Variable._execution_engine.queue_callback(callback)

    def _on_backward_end(self, batch: int, sampled: bool) -> None:
        # Only watched batches get here; on the others a NaN/Inf gradient poisons the weights
        # through the optimizer step, so the check on the next watched batch still sees it.
        self._in_backward = False
        self._last_check = time.perf_counter()
        on_cpu = bool(self._params) and self._params[0].device.type == "cpu"
        if not on_cpu:
            self._budget.use_wall_clock()  # the thread's CPU time misses a device's work
        began = self._budget.now()
        if sampled and on_cpu:
            # the statistics count NaN/Inf exactly: they are the check (no separate sync)
            measured = self._sample(batch, bad=None)
        else:
            bad = self._check_nonfinite(batch)  # one sync; tells which layers need masking
            measured = sampled and bad is not None and self._sample(batch, bad)
        if measured:
            self._budget.sampled(began)

    def _sample(self, batch: int, bad: set[int] | None) -> bool:
        """Statistics of the weights and gradients of this step, in one batched call: the
        weights are those the gradients were computed with (the optimizer has not stepped
        yet). ``bad``: layers known non-finite (masked on accelerators); None on the CPU,
        where the statistics' NaN/Inf counts report non-finite gradients instead. Returns
        whether there was anything to measure (no gradient yet: nothing)."""
        entries: list[Entry] = []
        flats, finite = [], []
        for layer in self._weighted:
            layer_grads = [p.grad for p in layer.weights if p.grad is not None]
            if layer_grads:
                entries.append((layer, "grad"))
                flats.append(flat_cat(layer_grads))
                finite.append(bad is not None and layer.index not in bad)
        if not entries:
            return False
        grads = len(entries)
        for layer in self._weighted:
            if layer.weights:
                entries.append((layer, "weight"))
                flats.append(flat_cat(layer.weights))
                finite.append(bad is not None and not bad)  # NaN weights: NaN gradients
        rows = self._stats_matrix(flats, finite)
        if bad is None:
            counts = rows[:grads, _NONFINITE_COLUMNS].tolist()
            for (layer, _), (nans, infs) in zip(entries, counts):
                if (nans or infs) and layer.index not in self._reported:
                    self._reported.add(layer.index)
                    self._emit("nonfinite", layer.index, layer.name, [nans, infs, batch])
        self._means.add(entries, rows)
        return True

    def _check_nonfinite(self, batch: int) -> set[int] | None:
        """Sum every weight gradient (NaN or Inf if any element is, Inf also if the sum
        overflows) with one host sync; emit newly non-finite layers; return the indices of
        all non-finite layers, or None when no gradient exists yet."""
        grads = [p.grad for p in self._params]
        present = [g for g in grads if g is not None]
        if not present:
            return None
        device = present[0].device
        same = all(g.device == device for g in present)
        sums = torch.stack([g.sum() if same else g.sum().to(device) for g in present]).tolist()
        flags = iter(sums)
        bad = set()
        for grad, layer in zip(grads, self._param_layer):
            if grad is None:
                continue
            flag = next(flags)
            if math.isfinite(flag) or layer.index < 0:
                continue
            bad.add(layer.index)
            if layer.index in self._reported:
                continue
            self._reported.add(layer.index)
            layer_grads = [q.grad for q in layer.weights if q.grad is not None]
            nans = sum(int(torch.isnan(g).sum()) for g in layer_grads)
            infs = sum(int(torch.isinf(g).sum()) for g in layer_grads)
            if nans == 0 and infs == 0:
                nans, infs = (1, 0) if math.isnan(flag) else (0, 1)
            self._emit("nonfinite", layer.index, layer.name, [float(nans), float(infs), batch])
        return bad

    def _generator(self, device: torch.device) -> torch.Generator:
        gen = self._generators.get(device)
        if gen is None:
            gen = torch.Generator(device=device).manual_seed(self._seed)
            self._generators[device] = gen
        return gen

    def _stats_matrix(self, tensors: list[Tensor], finite: list[bool]) -> Tensor | np.ndarray:
        """Statistics of several tensors of one device, one row each: a numpy array on the
        CPU (the kernel's own output: the epoch's means stay on the host), else a tensor."""
        gen = self._generator(tensors[0].device)
        if tensors[0].device.type == "cpu":
            arrays = [flat_array(t) for t in tensors]
            return cpu_stats_rows(arrays, self._sample_size, gen)
        return stats_matrix(tensors, sample_size=self._sample_size, generator=gen, finite=finite)

    # ---- epoch boundary -----------------------------------------------------------------
    def flush(self, epoch: int) -> None:
        """Emit the statistics of the epoch just finished and reset the accumulators.

        ``epoch`` is only for the caller's bookkeeping; every layer gets a ``"weight"``
        record, ``"grad"``/``"activation"`` only if sampled during the epoch.
        """
        flush_began = self._budget.now()
        if self._forwards:  # the last batch's gradients, in case no check covered them
            self._check_nonfinite(self._forwards - 1)
        unsampled: list[Entry] = [
            (layer, "weight")
            for layer in self._weighted
            if layer.weights and not self._means.covers(layer, "weight")
        ]
        if unsampled:  # no sampled batch this epoch: the weights as they are now
            flat = [flat_cat(layer.weights) for layer, _ in unsampled]
            self._means.add(unsampled, self._stats_matrix(flat, [False] * len(flat)))
        rows: list[Entry] = []
        parts: list[Tensor | np.ndarray] = []  # one value per row, in order
        means = self._means.means()
        if means is not None:
            rows += means[0]
            parts.append(means[1])
        active = [layer for layer in self._activations if layer.inactive is not None]
        if active:
            rows += [(layer, "activation") for layer in active]
            counts = [layer.inactive for layer in active]
            totals = [float(layer.total) for layer in active]
            if isinstance(counts[0], Tensor):  # on the model's device (a GPU): no sync here
                inactive = torch.stack(counts)  # type: ignore[arg-type]
                parts.append(inactive / torch.tensor(totals, device=inactive.device))
            else:  # counted on the host
                parts.append(np.divide(counts, totals))  # type: ignore[arg-type]
        values = host_rows(parts)  # the one host sync of the epoch's statistics
        out = [(layer.index, kind, layer.name, vals) for (layer, kind), vals in zip(rows, values)]
        for index, kind, name, vals in sorted(out, key=lambda row: row[0]):
            self._emit(kind, index, name, vals)
        for layer in self._activations:
            layer.inactive, layer.total = None, 0
        self._means.clear()
        self._budget.end_epoch(self._forwards, flush_began)  # the next epoch's stride
        self._forwards = 0
        self._last_check = time.perf_counter()
        self._reported.clear()

    def close(self) -> None:
        """Remove every hook; the probe emits nothing afterwards. Idempotent."""
        for handle in self._handles + self._act_handles:
            handle.remove()
        if self._end_handle is not None:
            self._end_handle.remove()
            self._end_handle = None
        self._handles.clear()
        self._act_modules.clear()
