"""The probe's one provisional record from inside a trial's first epoch (``"early"``).

Most problem verdicts need whole epochs (LAR two, PLC three). Some evidence is there long
before: a layer dead on every sampled batch, a loss that has not moved off the chance level.
After the first ``at_batch`` training batches of the trial (or at the end of epoch 1, if that
comes first) the probe emits, once, what it has seen so far (the values of
:class:`~bttackler.core.history.EarlyEvidence`):

* per activation layer, the smallest inactive ratio over the batches sampled so far, and the
  largest of those over the layers (with that layer's index and name): a layer dead on every
  sampled batch has it at ~1. It is measured on the probe's sampled batches only (batches
  1 and 11 with the default stride of 10): nothing is added to any batch.
* the per-batch training losses the task reported with ``trial.batch_loss`` (one float
  append per batch, up to ``at_batch`` of them): the mean of the first third and of the last
  third. Per-batch losses are not observable from the probe's hooks (they see the model's
  output, not the criterion), hence the explicit call; a task that does not make it sends NaN
  and the flat-loss rule stays silent.

Everything here is plain bookkeeping: on an accelerator the counts stay device tensors until
:meth:`EarlyWindow.evidence` reads them (one sync, once per trial).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bttackler.trialside.probe_layers import Layer

DEFAULT_AT_BATCH = 12


class EarlyWindow:
    """Collects the evidence of the first ``at_batch`` batches; see the module docstring."""

    def __init__(self, at_batch: int = DEFAULT_AT_BATCH) -> None:
        if at_batch < 2:
            raise ValueError(f"at_batch must be >= 2, got {at_batch}")
        self.at_batch = at_batch
        self.losses: list[float] = []
        self._seen: dict[int, tuple[Any, int]] = {}  # id(layer) -> (inactive, total) so far
        self._samples: list[list[tuple[Layer, Any, int]]] = []  # per sampled batch

    def add_loss(self, loss: float) -> None:
        if len(self.losses) < self.at_batch:
            self.losses.append(loss)

    def sampled(self, layers: Sequence[Layer]) -> None:
        """After a sampled training forward: each activation layer's inactive count and output
        count of this batch (the growth of its epoch totals since the last sampled batch)."""
        rows = []
        for layer in layers:
            if layer.inactive is None:
                continue
            count, total = self._seen.get(id(layer), (0, 0))
            if layer.total > total:
                rows.append((layer, layer.inactive - count, layer.total - total))
                self._seen[id(layer)] = (layer.inactive, layer.total)
        if rows:
            self._samples.append(rows)

    def evidence(self, batches: int) -> tuple[list[float], int, str]:
        """The record's values (``EarlyEvidence.to_values`` order), layer index and name."""
        lowest: dict[int, tuple[Layer, float]] = {}
        for rows in self._samples:
            for layer, count, total in rows:
                ratio = float(count) / total
                if id(layer) not in lowest or ratio < lowest[id(layer)][1]:
                    lowest[id(layer)] = (layer, ratio)
        dead_ratio, index, name = math.nan, -1, ""
        if lowest:
            layer, dead_ratio = max(lowest.values(), key=lambda lr: (lr[1], -lr[0].index))
            index, name = layer.index, layer.name
        losses = self.losses
        window = len(losses) // 3
        first = last = math.nan
        if window >= 1:
            first = sum(losses[:window]) / window
            last = sum(losses[-window:]) / window
        values = [float(batches), float(len(self._samples)), dead_ratio, float(len(losses)),
                  first, last, float(window)]  # fmt: skip
        return values, index, name[-32:]
