"""The sampled-statistics step: on a sampled batch, the statistics of every weight gradient
and weight of the model in one batched call, added to the epoch's means (which batches are
sampled: :mod:`bttackler.trialside.probe_budget`; how the samples combine:
:class:`~bttackler.trialside.probe_layers.SampleMeans`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from bttackler.core.history import STAT_NAMES
from bttackler.trialside.host_blocks import host_blocks
from bttackler.trialside.kernels import gather_float32, segment_stats
from bttackler.trialside.probe_layers import Entry, Layer, SampleMeans, flat_cat
from bttackler.trialside.tensor_stats import _layout, cpu_stats_rows, flat_array, stats_matrix

_NONFINITE_COLUMNS = [STAT_NAMES.index("nan_count"), STAT_NAMES.index("inf_count")]
# how each statistic combines over the sampled batches of an epoch (the rest: means)
_MAXIMA = [STAT_NAMES.index("max"), STAT_NAMES.index("abs_max")]
_MINIMA = [STAT_NAMES.index("min")]
_NO_DRAWS = np.zeros(0)  # no tensor is sampled for its quantiles


class SampledStats:
    """The statistics of the sampled batches of an epoch, combined in :attr:`means`.

    Args:
        sample_size: elements sampled per tensor for median and quartiles (exact below
            that size), and per activation output for the inactive ratio.
        seed: seed of the sampling generator of each device.
    """

    def __init__(self, sample_size: int, seed: int) -> None:
        self.sample_size = sample_size
        self._seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}
        self.means = SampleMeans(_MAXIMA, _MINIMA, _NONFINITE_COLUMNS)

    def sample(self, weighted: list[Layer], bad: set[int], on_host: bool) -> bool:
        """Statistics of the weights and gradients of this step, in one batched call: the
        weights are those the gradients were computed with (the optimizer has not stepped
        yet). ``bad``: the layers found non-finite (their statistics take the masked path
        on accelerators). Returns whether there was anything to measure (no gradient yet:
        nothing)."""
        entries: list[Entry] = []
        grouped: list[list[Tensor]] = []  # the tensors of each entry
        finite = []
        for layer in weighted:
            layer_grads = [p.grad for p in layer.weights if p.grad is not None]
            if layer_grads:
                entries.append((layer, "grad"))
                grouped.append(layer_grads)
                finite.append(layer.index not in bad)
        if not entries:
            return False
        for layer in weighted:
            if layer.weights:
                entries.append((layer, "weight"))
                grouped.append(layer.weights)
                finite.append(not bad)  # NaN weights: NaN gradients
        rows: Tensor | np.ndarray | None = self._host_stats(grouped) if on_host else None
        if rows is None:
            rows = self.stats_matrix([flat_cat(tensors) for tensors in grouped], finite)
        self.means.add(entries, rows)
        return True

    def _host_stats(self, grouped: list[list[Tensor]]) -> np.ndarray | None:
        """:meth:`stats_matrix` of dense float32 CPU tensors, one each (the usual case),
        with their elements gathered by one kernel call (not a numpy view and a torch call
        or three each, then a concatenation): the same array, so the same statistics.
        None otherwise."""
        if any(len(tensors) != 1 for tensors in grouped):
            return None
        blocks = host_blocks([tensors[0] for tensors in grouped])
        if blocks is None or blocks[2].any():  # float64 among them: the general path
            return None
        bounds, sampled = _layout(tuple(blocks[1].tolist()), self.sample_size)
        draws = _NO_DRAWS
        if sampled:
            gen = self.generator(torch.device("cpu"))
            draws = torch.rand(self.sample_size, dtype=torch.float64, generator=gen).numpy()
        return segment_stats(gather_float32(*blocks[:2]), bounds, draws, self.sample_size)

    def add_unsampled_weights(self, weighted: list[Layer]) -> None:
        """At flush: the statistics of the weights of each layer no sampled batch covered
        this epoch, as they are now."""
        unsampled: list[Entry] = [
            (layer, "weight")
            for layer in weighted
            if layer.weights and not self.means.covers(layer, "weight")
        ]
        if unsampled:  # no sampled batch this epoch: the weights as they are now
            flat = [flat_cat(layer.weights) for layer, _ in unsampled]
            self.means.add(unsampled, self.stats_matrix(flat, [False] * len(flat)))

    def generator(self, device: torch.device) -> torch.Generator:
        gen = self._generators.get(device)
        if gen is None:
            gen = torch.Generator(device=device).manual_seed(self._seed)
            self._generators[device] = gen
        return gen

    def stats_matrix(self, tensors: list[Tensor], finite: list[bool]) -> Tensor | np.ndarray:
        """Statistics of several tensors of one device, one row each: a numpy array on the
        CPU (the kernel's own output: the epoch's means stay on the host), else a tensor."""
        gen = self.generator(tensors[0].device)
        if tensors[0].device.type == "cpu":
            arrays = [flat_array(t) for t in tensors]
            return cpu_stats_rows(arrays, self.sample_size, gen)
        return stats_matrix(tensors, sample_size=self.sample_size, generator=gen, finite=finite)
