"""The weights' update ratio over one optimizer step, ||W_after - W_before|| / ||W_before||
of each layer (its weight matrices as one vector), for the ``update_ratio`` column of the
probe's ``"weight"`` records (what it means: :mod:`bttackler.trialside.probe`).

The weights are copied at a sampled batch, before its optimizer step, and compared at the
next training batch's forward (or at ``flush``); the epoch's value is the mean over the
sampled batches.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bttackler.trialside.host_blocks import host_blocks
from bttackler.trialside.kernels import gather_blocks, group_update_ratios
from bttackler.trialside.probe_layers import Entry, Layer, SampleMeans


class UpdateRatios:
    """The update ratios of an epoch: :meth:`keep` the weights before a step, :meth:`measure`
    after it; :meth:`column` (or :meth:`host_means`) gives the epoch's means at flush."""

    def __init__(self) -> None:
        # the weights of the last sampled batch before its optimizer step (layers, weights,
        # copies), until the next training batch (or flush) measures the step's size
        # (on the host: each one's layer and one float64 array of their values)
        self._before: (
            tuple[list[Layer], list[Tensor], list[Tensor] | tuple[np.ndarray, np.ndarray]] | None
        ) = None
        self._means = SampleMeans()  # the update ratios of the epoch, one column

    @property
    def pending(self) -> bool:
        """Weights were kept and their step is not measured yet."""
        return self._before is not None

    def keep(self, weighted: list[Layer], on_host: bool) -> None:
        """Copy the weights before the optimizer steps (float32 at least: float16 norms
        overflow), on their device, for :meth:`measure`. On the host, one kernel
        call copies them all into one float64 array (torch's copies and norms, a dozen
        calls, cost as much as the rest of a sample)."""
        layers = [layer for layer in weighted if layer.weights]
        if on_host:
            params = [w for layer in layers for w in layer.weights]
            blocks = host_blocks(params)
            if blocks is not None:
                owner = [i for i, layer in enumerate(layers) for _ in layer.weights]
                owners = np.array(owner, dtype=np.int64)
                self._before = (layers, params, (owners, gather_blocks(*blocks)))
                return
        weights = [w.detach() for layer in layers for w in layer.weights]
        copies = [w.to(torch.float64 if w.dtype == torch.float64 else torch.float32, copy=True)
                  for w in weights]  # fmt: skip
        self._before = (layers, weights, copies)

    def measure(self) -> None:
        """The weight-update ratio ||W_after - W_before|| / ||W_before|| of each layer (all
        its weight matrices as one vector) over the step since :meth:`keep`; with
        torch ops on the weights' device, kept there until flush (on the host: one kernel
        call, squares summed in float64)."""
        assert self._before is not None
        layers, weights, copies = self._before
        self._before = None
        entries: list[Entry] = [(layer, "weight") for layer in layers]
        if isinstance(copies, tuple):  # kept on the host
            owners, kept = copies
            blocks = host_blocks(weights)
            if blocks is not None:  # else a weight was replaced (.data =): not measured
                column = group_update_ratios(*blocks, kept, owners, len(layers))
                if len(column):
                    self._means.add(entries, column)
            return
        with torch.no_grad():
            before_t = torch.stack(torch._foreach_norm(copies)).double()
            torch._foreach_sub_(copies, weights)
            change_t = torch.stack(torch._foreach_norm(copies)).double()
            if len(copies) > len(layers):  # a layer of several matrices: sum the squares
                owner = [i for i, layer in enumerate(layers) for _ in layer.weights]
                slots = torch.tensor(owner, device=before_t.device)
                zeros = torch.zeros(len(layers), dtype=torch.float64, device=before_t.device)
                before_t = zeros.index_add(0, slots, before_t.square()).sqrt()
                change_t = zeros.index_add(0, slots, change_t.square()).sqrt()
            ratio = (change_t / before_t)[:, None]
        self._means.add(entries, ratio.numpy() if ratio.device.type == "cpu" else ratio)

    def column(self, entries: list[Entry], like: Tensor | np.ndarray) -> Any:
        """The epoch's mean update ratio of each entry (weights; NaN for gradients and for
        layers never measured), as a column for a matrix like ``like``."""
        ratios = self._means.means()
        column: Tensor | np.ndarray
        if isinstance(like, Tensor):
            column = torch.full((len(entries), 1), math.nan, dtype=like.dtype, device=like.device)
        else:
            column = np.full((len(entries), 1), np.nan)
        if ratios is None:
            return column
        at = {id(layer): row for row, (layer, _) in enumerate(ratios[0])}
        rows, sources = [], []
        for row, (layer, kind) in enumerate(entries):
            if kind == "weight" and id(layer) in at:
                rows.append(row)
                sources.append(at[id(layer)])
        if rows:
            if isinstance(column, Tensor):
                column[rows] = torch.as_tensor(ratios[1], device=column.device)[sources].to(
                    column.dtype
                )
            else:
                column[rows] = np.asarray(ratios[1])[sources]
        return column

    def host_means(self) -> dict[int, float]:
        """The epoch's mean update ratio of each measured layer, by ``id(layer)``, as
        Python floats (for rows built on the host)."""
        ratio_means = self._means.means()
        ratio_of: dict[int, float] = {}
        if ratio_means is not None:
            listed = np.asarray(ratio_means[1]).tolist()
            ratio_of = {id(layer): r[0] for (layer, _), r in zip(ratio_means[0], listed)}
        return ratio_of

    def clear(self) -> None:
        self._means.clear()
