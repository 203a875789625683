"""Trial-side tracing of per-layer weights, gradients and activations (paper section 3.3).

A :class:`Probe` hooks a ``torch.nn.Module`` and, through ``emit(kind, index, name, values)``,
reports per-layer statistics once per epoch (``flush``) plus immediate non-finite alarms.

What counts as a layer, in the order of its first call in the forward pass (one index space
shared by weighted and activation layers, ``0`` = nearest the input):

* weighted layers: ``Linear``, ``Conv1d/2d/3d``, ``ConvTranspose1d/2d/3d``, ``RNN/LSTM/GRU``
  (one layer holding every ``weight_*`` matrix of every stacked layer), ``Embedding`` and
  ``EmbeddingBag``. A ``MultiheadAttention`` (also inside ``Transformer*Layer``) becomes two
  layers, ``<name>.in_proj`` (the packed q/k/v projection, or the three separate ones
  concatenated) and ``<name>.out_proj``. Statistics cover the weight matrices, not biases.
* activation modules (see :data:`bttackler.trialside.probe_layers.ACTIVATION_RULES`).
  Functional activations
  (``torch.relu(x)`` in ``forward``, the default ``activation`` of ``Transformer*Layer``)
  cannot be hooked and are not recorded. A module called several times (one ``nn.ReLU``
  reused after every conv) is one layer, indexed at its first call, pooling all its calls.

Sampling, to keep the overhead low: a batch is a training forward pass with autograd on (and
its backward). The costly statistics are computed on every ``k``-th batch of the epoch from
batch 1 (1, 1 + k, 1 + 2k, ...; ``k = stats_every``, raised after each epoch so that at most
``max_samples`` batches are sampled, and fewer when ``overhead_budget`` says so). Batch 1, not
0: the run's first batch has seen no update. After an epoch of a single batch (full-batch
training) the next epoch samples batch 0; an epoch that sampled nothing has its last batch's
gradients measured at ``flush``. Weight statistics are taken on the same sampled batches, in
the same batched call as the gradients (the weights the gradients were computed with, before
the optimizer steps); a layer with no sampled batch in the epoch gets the statistics of its
weights at ``flush``. Activation ratios are measured on the same sampled forward passes
(``module.training`` only, so ``model.eval()`` validation is ignored), on ``sample_size``
random outputs per call when the output has more than ``64 * sample_size``.

How an epoch's samples combine (NaN values left out of each): ``max`` and ``abs_max`` by the
largest, ``min`` by the smallest, ``nan_count``/``inf_count`` by the sum (counts over the
sampled batches), every other statistic by the mean. A gradient's ``abs_max`` is moreover
raised to the largest max |g| of the every-batch check: it is the max over *all* the epoch's
batches, not only the sampled ones.

``update_ratio`` (weights; NaN for gradients): ||W_after - W_before|| / ||W_before|| of each
layer (its weight matrices as one vector) over one optimizer step. The weights are copied
(float32 at least, on their device) at each sampled batch before the step, and compared at
the next training batch's forward (or at ``flush``: the epoch's last step is done by then);
the epoch's value is the mean over the sampled batches, NaN when none could be measured (an
epoch of one batch, sampled at ``flush`` after its step).

On the CPU every statistic of a sampled batch is computed by one compiled kernel call, and
each activation count by one more (:mod:`bttackler.trialside.kernels`); the check, the
weight copies, the update ratios and the epoch's means are one kernel call each too, reading
the tensors' memory. What a CPU probe costs is mostly how many distinct library calls it
makes, not their arithmetic: just after a training step each one finds its code and data
out of the caches (~10 us for an ``np.zeros(3).tolist()``, 0.3 us the next time). On an
accelerator all of it stays on the device until ``flush`` copies everything to the host in
one go.

The every-batch check: on every training batch each weight gradient's max |g| (NaN/Inf
when it holds one) is folded into the epoch's gradient ``abs_max``, and a layer found
non-finite is emitted at once as ``"nonfinite"`` with ``[nan_count, inf_count, batch]``, at
most once per layer per epoch (when and how: :mod:`bttackler.trialside.gradient_check`).

The :class:`Probe` owns the hooks and decides which batch gets what; the work is done by
:mod:`~bttackler.trialside.gradient_check` (the every-batch check),
:mod:`~bttackler.trialside.sampled_stats` (a sampled batch's statistics),
:mod:`~bttackler.trialside.update_ratios` and :mod:`~bttackler.trialside.flush_rows` (the
records of an epoch), with :mod:`~bttackler.trialside.probe_layers` (what a layer is) and
:mod:`~bttackler.trialside.probe_budget` (which batches are sampled or checked).

Limitations: one device per model; ``emit`` may be called from autograd's backward thread
(``"nonfinite"``); hooks need ``model(...)`` to be called (not ``model.some_method()``); the
end-of-backward callback uses torch's ``_execution_engine.queue_callback`` (as DDP does); the
update ratio assumes one optimizer step per batch (with gradient accumulation it is 0 or
spans several batches).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.utils.hooks import RemovableHandle

from bttackler.trialside.early import DEFAULT_AT_BATCH, EarlyWindow
from bttackler.trialside.flush_rows import epoch_rows
from bttackler.trialside.gradient_check import Emit, GradientCheck
from bttackler.trialside.probe_budget import CheckBudget, SamplingBudget
from bttackler.trialside.probe_layers import (
    WEIGHTED_TYPES,
    Inactive,
    Layer,
    activation_rule,
    count_inactive_outputs,
    first_grad_tensor,
    weighted_layer,
)
from bttackler.trialside.sampled_stats import SampledStats
from bttackler.trialside.update_ratios import UpdateRatios


class Probe:
    """Hooks ``model`` and reports per-layer statistics through ``emit`` (see module docs).

    Args:
        model: the module to watch; hooks are installed now and removed by :meth:`close`.
        emit: ``emit(kind, layer_index, layer_name, values)``; kinds
            ``"weight"``, ``"grad"``, ``"activation"``, ``"nonfinite"`` and ``"early"``.
        check_every: on an accelerator, batches between two reads of the every-batch check
            (one host sync each); without a torch optimizer, between two checks.
        check_seconds: wall time since the last read (check) below which a batch due for
            one is not read (checked): fast models' check at flush is as timely.
        sample_size: elements sampled per tensor for median and quartiles (exact below that
            size; 1,024 draws put the median within about 0.04 standard deviations), and
            per activation output for the inactive ratio.
        stats_every: statistics and activation ratios on every k-th batch (at least).
        max_samples: at most this many sampled batches per epoch: after each epoch the
            sampling stride grows to ``ceil(batches / max_samples)`` when that is larger than
            ``stats_every``, so long epochs (small batches) cost no more than short ones.
        overhead_budget: share of the epoch's time the sampled batches (with their update
            ratios) and the flush may take: a batch due for sampling is skipped while the
            probe's time this epoch (plus the last flush) is over budget, and the next
            epoch's stride is set from what a sample cost; the first batch due in an epoch is
            always sampled. ``None``: no time budget. The every-batch check is not counted.
        check_budget: on the CPU, share of the epoch's time the every-batch gradient check
            may take after its first ``check_first`` batches (see
            :class:`~bttackler.trialside.probe_budget.CheckBudget`); ``None``: every batch.
        check_first: batches at the start of every epoch that are always checked.
        early_batches: after this many training batches of the trial (or at the end of
            epoch 1, if sooner) emit the one ``"early"`` record (see
            :mod:`bttackler.trialside.early`); ``None``: never.
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
        check_budget: float | None = 0.002,
        check_first: int = 4,
        early_batches: int | None = DEFAULT_AT_BATCH,
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
        self._budget = SamplingBudget(stats_every, max_samples, overhead_budget, clock)
        # built before any hook is installed: a bad value raises with the model untouched
        checks = CheckBudget(check_budget, check_first)
        self._stats = SampledStats(sample_size, seed)
        self._early = EarlyWindow(early_batches) if early_batches else None  # until emitted
        self._ordered: list[Layer] = []  # weighted and activation layers, by index
        self._weighted: list[Layer] = []
        self._activations: list[Layer] = []
        self._initialized = False
        self._forwards = 0  # training forward passes with autograd on, this epoch
        self._armed = False  # this training forward pass is a sampled one
        self._due: tuple[int, bool] | None = None  # (batch, sampled) of this training forward
        self._optimizers: dict[int, bool] = {}  # id(optimizer) -> whether it steps our weights
        self._stepping = False  # such an optimizer has stepped: it runs the every-batch check
        self._end_handle: RemovableHandle | None = None  # the one-shot forward hook
        self._updates = UpdateRatios()
        self._in_backward = False
        self._handles: list[RemovableHandle] = []
        params: list[Tensor] = []
        param_layer: list[Layer] = []  # the layer of each of params
        # activation hooks are installed only for the sampled forward passes (hooks cost)
        self._act_modules: list[tuple[nn.Module, Callable[..., None]]] = []
        self._act_handles: list[RemovableHandle] = []

        skip = {id(m.out_proj) for m in model.modules() if isinstance(m, nn.MultiheadAttention)}
        for name, m in model.named_modules():
            rule = activation_rule(m)
            if rule is not None:
                layer = Layer(name, type(m).__name__, [])
                self._act_modules.append((m, partial(self._on_activation, layer, rule)))
            elif isinstance(m, WEIGHTED_TYPES + (nn.MultiheadAttention,)) and id(m) not in skip:
                layer = weighted_layer(name, m)
                handle_box: list[RemovableHandle] = []
                hook = partial(self._on_first_call, layer, handle_box)
                handle_box.append(m.register_forward_hook(hook))
                self._handles.append(handle_box[0])
                for sub in layer.sub or [layer]:
                    for p in sub.weights:
                        if p.requires_grad and all(p is not q for q in params):
                            params.append(p)
                            param_layer.append(sub)
        self._check = GradientCheck(
            params,
            param_layer,
            emit,
            check_every=check_every,
            check_seconds=check_seconds,
            budget=checks,
        )
        self._handles.append(model.register_forward_pre_hook(self._on_forward_pre))
        # the every-batch check runs as an optimizer holding these weights steps
        self._handles.append(register_optimizer_step_pre_hook(self._on_optimizer_step))

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

    def _on_forward_pre(self, module: nn.Module, args: Any) -> None:
        if module.training and torch.is_grad_enabled():  # a training batch
            batch = self._forwards
            self._forwards = batch + 1
            if self._early is not None and batch >= self._early.at_batch:
                self._emit_early(batch)
            if self._updates.pending:  # the sampled batch's optimizer step is done
                self._measure_update()
            sample_due = self._budget.due(batch)
            # without an optimizer step to run it at, the check runs at the end of the
            # backward of every check_every-th batch (check_seconds apart)
            check_due = not self._stepping and (batch + 1) % self._check.check_every == 0
            if not (sample_due or check_due) and self._initialized and self._end_handle is None:
                self._armed = False
                return  # neither sampled nor watched: this call is the probe's cost
            self._armed = sample_due
            checked = sample_due or (check_due and self._check.seconds_passed())
            self._due = (batch, sample_due) if checked else None
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
        self._initialized = True
        if self._armed and self._early is not None:
            self._early.sampled(self._activations)
        if self._due is not None:
            # The end of the backward pass through this output is when every .grad is final:
            # one tensor hook per watched forward (sampled, or due for the check without an
            # optimizer to run it), none on the others, cheaper than a hook per parameter.
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
            output.detach(), rule, self._stats.sample_size, self._stats.generator
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
        self._in_backward = False
        params = self._check.params
        if not (params and params[0].is_cpu):
            self._budget.use_wall_clock()  # the thread's CPU time misses a device's work
        began = self._budget.now() if sampled else 0.0
        # On the CPU reading the check costs nothing more: every batch is checked. On an
        # accelerator the check stays on the device (no sync) but for sampled batches
        # (their statistics need it) and every check_every-th, check_seconds apart.
        sync = self._check.on_host() or sampled or self._check.seconds_passed()
        bad = self._check.after_backward(batch, sync)
        if (
            sampled
            and bad is not None
            and self._stats.sample(self._weighted, bad, self._check.on_host())
        ):
            self._updates.keep(self._weighted, self._check.on_host())
            self._budget.sampled(began)

    def _on_optimizer_step(self, optimizer: torch.optim.Optimizer, args: Any, kw: Any) -> None:
        """Every optimizer step (a global hook): the every-batch check, when the optimizer
        steps these weights and the end of the batch's backward did not check them."""
        ours = self._optimizers.get(id(optimizer))
        if ours is None:
            stepped = {id(p) for group in optimizer.param_groups for p in group["params"]}
            ours = any(id(p) in stepped for p in self._check.params)
            self._optimizers[id(optimizer)] = ours
        batch = self._forwards - 1
        if not ours or batch < 0 or batch == self._check.checked:
            return
        self._stepping = True
        self._check.at_optimizer_step(batch)

    def _measure_update(self) -> None:
        """The update ratios of the last sampled batch's step, timed as part of the
        epoch's samples."""
        began = self._budget.now()
        self._updates.measure()
        self._budget.spent(began)

    # ---- epoch boundary -----------------------------------------------------------------
    def flush(self, epoch: int) -> None:
        """Emit the statistics of the epoch just finished and reset the accumulators.

        ``epoch`` is only for the caller's bookkeeping; every layer gets a ``"weight"``
        record, ``"grad"``/``"activation"`` only if sampled during the epoch.
        """
        flush_began = self._budget.now()
        self._check.drain()
        if self._early is not None and self._forwards:  # epoch 1 ended first
            self._emit_early(self._forwards)
        self._early = None  # only ever from inside the first epoch
        if self._updates.pending:  # the last sampled batch was the epoch's last
            self._measure_update()
        if self._forwards:  # the last batch's gradients, in case no check covered them
            last = self._forwards - 1
            bad = self._check.at_flush(last)
            if bad is not None and not self._budget.samples:  # an epoch too short to sample
                self._stats.sample(self._weighted, bad, self._check.on_host())
        self._stats.add_unsampled_weights(self._weighted)
        means = self._stats.means.means()
        records = epoch_rows(means, self._activations, self._check, self._updates)
        for index, kind, name, vals in records:
            self._emit(kind, index, name, vals)
        for layer in self._activations:
            layer.inactive, layer.total = None, 0
        self._stats.means.clear()
        self._updates.clear()
        self._check.end_epoch()
        self._budget.end_epoch(self._forwards, flush_began)  # the next epoch's stride
        self._forwards = 0

    def batch_loss(self, loss: float) -> None:
        """A training batch's loss, kept for the ``"early"`` record (ignored after it)."""
        if self._early is not None:
            self._early.add_loss(loss)

    def _emit_early(self, batches: int) -> None:
        assert self._early is not None
        values, index, name = self._early.evidence(batches)
        self._early = None
        self._emit("early", index, name, values)

    def close(self) -> None:
        """Remove every hook; the probe emits nothing afterwards. Idempotent."""
        for handle in self._handles + self._act_handles:
            handle.remove()
        if self._end_handle is not None:
            self._end_handle.remove()
            self._end_handle = None
        self._handles.clear()
        self._act_modules.clear()
        self._check.close()
