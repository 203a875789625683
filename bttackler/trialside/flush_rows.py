"""A flush's rows: the epoch's combined statistics of every entry, with the every-batch
maxima folded into the gradients' ``abs_max``, the update ratio appended to every row, and
the activation ratios after them, as the records the probe emits (what they mean:
:mod:`bttackler.trialside.probe`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bttackler.core.history import STAT_NAMES
from bttackler.trialside.gradient_check import GradientCheck
from bttackler.trialside.probe_layers import Entry, Layer, host_rows
from bttackler.trialside.update_ratios import UpdateRatios

_ABS_MAX = STAT_NAMES.index("abs_max")

Record = tuple[int, str, str, list[float]]  # layer index, kind, layer name, values


def epoch_rows(
    means: tuple[list[Entry], Tensor | np.ndarray] | None,
    activations: list[Layer],
    check: GradientCheck,
    updates: UpdateRatios,
) -> list[Record]:
    """The records of the epoch's ``means`` (the sampled statistics, or None) and of the
    ``activations`` counted, by layer index: built by Python floats when everything is on
    the host, else with one host sync of everything at the end."""
    rows: list[Entry] = []
    parts: list[Tensor | np.ndarray] = []  # one value per row, in order
    host = _rows_on_host(means, activations, check, updates)
    if host is not None:
        rows, values = host
    elif means is not None:
        entries, matrix = means
        _fold_gradient_maxima(entries, matrix, check)
        column = updates.column(entries, matrix)
        if isinstance(matrix, Tensor):
            matrix = torch.cat([matrix, column], dim=1)
        else:
            matrix = np.hstack([matrix, column])
        rows += entries
        parts.append(matrix)
    active = [layer for layer in activations if layer.inactive is not None]
    if active and host is None:
        rows += [(layer, "activation") for layer in active]
        counts = [layer.inactive for layer in active]
        totals = [float(layer.total) for layer in active]
        if isinstance(counts[0], Tensor):  # on the model's device (a GPU): no sync here
            inactive = torch.stack(counts)  # type: ignore[arg-type]
            parts.append(inactive / torch.tensor(totals, device=inactive.device))
        else:  # counted on the host
            parts.append(np.divide(counts, totals))  # type: ignore[arg-type]
    if host is None:
        values = host_rows(parts)  # the one host sync of the epoch's statistics
    out = [(layer.index, kind, layer.name, vals) for (layer, kind), vals in zip(rows, values)]
    return sorted(out, key=lambda row: row[0])


def _rows_on_host(
    means: tuple[list[Entry], Tensor | np.ndarray] | None,
    activations: list[Layer],
    check: GradientCheck,
    updates: UpdateRatios,
) -> tuple[list[Entry], list[list[float]]] | None:
    """The epoch's rows on the host (statistics computed there, activations counted
    there), as flush builds them: with the every-batch maxima folded into ``abs_max``,
    the update ratio appended and the activation ratios after them, by Python floats
    (a dozen numpy calls cost ~10 us each just after the validation pass). None when
    something lives on a device."""
    if means is not None and not isinstance(means[1], np.ndarray):
        return None
    active = [layer for layer in activations if layer.inactive is not None]
    if any(isinstance(layer.inactive, Tensor) for layer in active):
        return None
    if means is not None and isinstance(check.grad_max, Tensor):
        return None
    rows: list[Entry] = []
    values: list[list[float]] = []
    if means is not None:
        entries, matrix = means
        ratio_of = updates.host_means()
        high = check.grad_max
        for (layer, kind), row in zip(entries, matrix.tolist()):  # type: ignore[union-attr]
            params = check.layer_params.get(id(layer))
            if kind == "grad" and params and isinstance(high, list):
                found = max(high[i] for i in params)
                if found > -math.inf and not found <= row[_ABS_MAX]:  # np.fmax
                    row[_ABS_MAX] = found
            row.append(ratio_of.get(id(layer), math.nan) if kind == "weight" else math.nan)
            values.append(row)
        rows += entries
    for layer in active:
        rows.append((layer, "activation"))
        count = float(layer.inactive)  # type: ignore[arg-type]
        values.append([count / layer.total if layer.total else math.nan])
    return rows, values


def _fold_gradient_maxima(
    entries: list[Entry], matrix: Tensor | np.ndarray, check: GradientCheck
) -> None:
    """Raise each gradient row's ``abs_max`` to its layer's max |g| over every batch of
    the epoch (the every-batch check's), not only the sampled ones."""
    if check.grad_max is None:
        return
    rows: list[int] = []
    maxima: list[Any] = []  # floats on the host, device scalars elsewhere
    high = check.grad_max
    for row, (layer, kind) in enumerate(entries):
        params = check.layer_params.get(id(layer))
        if kind == "grad" and params:
            rows.append(row)
            if isinstance(high, list):
                maxima.append(max(high[i] for i in params))
            else:
                maxima.append(high[params].max())
    if not rows:
        return
    if isinstance(matrix, Tensor):
        found = torch.stack(maxima).to(matrix.dtype)  # type: ignore[arg-type]
        found = torch.where(found > -math.inf, found, math.nan)
        matrix[rows, _ABS_MAX] = torch.fmax(matrix[rows, _ABS_MAX], found)
    else:
        found_np = np.array(maxima, dtype=np.float64)
        found_np[found_np == -np.inf] = np.nan
        matrix[rows, _ABS_MAX] = np.fmax(matrix[rows, _ABS_MAX], found_np)
