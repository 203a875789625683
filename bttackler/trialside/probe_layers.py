"""What the probe hooks: which modules are weighted layers, what "inactive" means for each
activation type, and the per-layer state the probe accumulates during an epoch."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from bttackler.trialside.kernels import (
    add_means,
    combine_means,
    count_inactive,
    start_means,
)
from bttackler.trialside.tensor_stats import flat_array

_NO_DRAWS = np.zeros(0)  # count every output

WEIGHTED_TYPES: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.RNNBase,
    nn.Embedding,
    nn.EmbeddingBag,
)


class Inactive(NamedTuple):
    """An output ``y`` is inactive when it is at or beyond a bound: ``y <= low`` or
    ``y >= high`` (``y < low`` or ``y > high`` when ``strict``); a NaN bound never holds."""

    low: float
    high: float = math.nan
    strict: bool = False


def _not_positive(m: nn.Module) -> Inactive:
    return Inactive(0.0)


def _softplus_off(m: nn.Module) -> Inactive:
    return Inactive(math.log(2.0) / float(getattr(m, "beta", 1.0)))  # input <= 0


def _tanh_saturated(m: nn.Module) -> Inactive:
    return Inactive(-0.99, 0.99, strict=True)


def _sigmoid_saturated(m: nn.Module) -> Inactive:
    return Inactive(0.01, 0.99, strict=True)


def _hardtanh_saturated(m: nn.Module) -> Inactive:
    return Inactive(float(getattr(m, "min_val", -1.0)), float(getattr(m, "max_val", 1.0)))


# "Inactive" per activation type (looked up along the MRO, so ReLU6 is not a Hardtanh):
# ReLU family: output <= 0 (not activated); Softplus: input <= 0; Tanh/Softsign: |y| > 0.99,
# Sigmoid/Hardsigmoid: y < 0.01 or y > 0.99, Hardtanh: y at min_val or max_val (saturated).
ACTIVATION_RULES: dict[type[nn.Module], Callable[[nn.Module], Inactive]] = {
    **{
        t: _not_positive
        for t in (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU)
        + (nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish)
    },
    nn.Softplus: _softplus_off,
    nn.Tanh: _tanh_saturated,
    nn.Softsign: _tanh_saturated,
    nn.Sigmoid: _sigmoid_saturated,
    nn.Hardsigmoid: _sigmoid_saturated,
    nn.Hardtanh: _hardtanh_saturated,
}


def activation_rule(m: nn.Module) -> Inactive | None:
    """What "inactive" means for the outputs of ``m``; None if ``m`` is no activation."""
    for cls in type(m).__mro__:
        if cls in ACTIVATION_RULES:
            return ACTIVATION_RULES[cls](m)
    return None


def inactive_mask(out: Tensor, rule: Inactive) -> Tensor:
    """Which elements of ``out`` are inactive under ``rule``, by torch ops on ``out``'s
    device (the accelerator path; on the CPU the probe counts with a compiled kernel)."""
    if rule.strict:
        low, high = out < rule.low, out > rule.high
    else:
        low, high = out <= rule.low, out >= rule.high
    return low if math.isnan(rule.high) else low | high


@dataclass
class Layer:
    name: str
    type_name: str
    weights: list[Tensor]
    index: int = -1
    inactive: Tensor | int | None = None  # activation layers: count of inactive outputs
    total: int = 0
    sub: list[Layer] = field(default_factory=list)  # MultiheadAttention: in/out projection


Entry = tuple[Layer, str]  # a layer and "weight" or "grad"


Rows = Tensor | np.ndarray  # statistics, one row per entry: a device tensor, or host values


class SampleMeans:
    """How the statistics of the sampled batches combine over an epoch.

    Each sample is a matrix with one row of statistics per entry: a numpy array when the
    statistics were computed on the host, a tensor on the model's device otherwise (no
    sync). A column combines by its nature: the columns in ``maxima`` by the largest value
    seen (``max``, ``abs_max``: the epoch's extreme, not a diluted mean), those in
    ``minima`` by the smallest, those in ``sums`` by the total (NaN/Inf counts), every
    other one by the mean. NaN values (the skew of a constant tensor, say) are left out of
    each; a value never seen is NaN. Samples with the same entries (the usual case: every
    batch has every gradient) are combined as whole matrices, so a sample costs a few
    array operations however many layers the model has.
    """

    def __init__(
        self,
        maxima: Sequence[int] = (),
        minima: Sequence[int] = (),
        sums: Sequence[int] = (),
    ) -> None:
        self._maxima, self._minima, self._sums = list(maxima), list(minima), list(sums)
        # per group of entries: (entries, sum of the non-NaN values, their count, max, min)
        self._groups: dict[tuple[tuple[int, str], ...], tuple[list[Entry], Rows, Rows, Rows, Rows]]
        self._groups = {}
        self._kinds: dict[int, np.ndarray] = {}  # columns -> how each combines (host)

    def add(self, entries: list[Entry], rows: Rows) -> None:
        key = tuple((id(layer), kind) for layer, kind in entries)
        values: Rows
        seen: Rows
        if isinstance(rows, np.ndarray) and rows.dtype == np.float64 and rows.flags.c_contiguous:
            # the host's float64 matrices: one compiled call, not five or six numpy ones
            # (each costs ~10 us just after a training step has filled the caches)
            group = self._groups.get(key)
            if group is None and rows.ndim == 2:
                self._groups[key] = (entries, *start_means(rows))
                return
            total, count, high, low = group[1:] if group else (None,) * 4
            if isinstance(total, np.ndarray) and rows.ndim == 2:
                add_means(rows, total, count, high, low)  # type: ignore[arg-type]
                return
        if isinstance(rows, Tensor):
            present = ~torch.isnan(rows)
            values, seen = torch.where(present, rows, 0.0), present.to(rows.dtype)
        else:
            known = ~np.isnan(rows)
            values, seen = np.where(known, rows, 0.0), known.astype(rows.dtype)
        group = self._groups.get(key)
        if group is None:  # the extremes start as copies: the caller's matrix is not ours
            high = rows.clone() if isinstance(rows, Tensor) else rows.copy()
            low = rows.clone() if isinstance(rows, Tensor) else rows.copy()
            self._groups[key] = (entries, values, seen, high, low)
            return
        total, count, high, low = group[1:]  # in place: into the left operand
        total += values
        count += seen
        if isinstance(rows, Tensor):
            torch.fmax(high, rows, out=high)  # type: ignore[arg-type]
            torch.fmin(low, rows, out=low)  # type: ignore[arg-type]
        else:
            np.fmax(high, rows, out=high)  # type: ignore[arg-type]
            np.fmin(low, rows, out=low)  # type: ignore[arg-type]

    def covers(self, layer: Layer, kind: str) -> bool:
        return any((id(layer), kind) in key for key in self._groups)

    def means(self) -> tuple[list[Entry], Rows] | None:
        """Every entry seen this epoch and the matrix of its combined values (means, and
        max/min/sums in their columns; NaN where a statistic was never seen), or None when
        nothing was sampled. The matrix is new: the caller may write to it."""
        if not self._groups:
            return None
        groups = list(self._groups.values())
        if len(groups) == 1:
            entries, total, count, high, low = groups[0]
            return entries, self._combine(total, count, high, low)
        merged: dict[tuple[int, str], list] = {}  # entries changed within the epoch: rare
        for entries, total, count, high, low in groups:
            for i, (layer, kind) in enumerate(entries):
                slot = merged.get((id(layer), kind))
                if slot is None:
                    merged[(id(layer), kind)] = [(layer, kind), total[i], count[i], high[i], low[i]]
                    continue
                slot[1] = slot[1] + total[i]
                slot[2] = slot[2] + count[i]
                if isinstance(high, Tensor):
                    slot[3], slot[4] = torch.fmax(slot[3], high[i]), torch.fmin(slot[4], low[i])
                else:
                    slot[3], slot[4] = np.fmax(slot[3], high[i]), np.fmin(slot[4], low[i])
        parts = [[slot[k] for slot in merged.values()] for k in range(1, 5)]
        stack = torch.stack if isinstance(parts[0][0], Tensor) else np.stack
        combined = self._combine(*(stack(part) for part in parts))  # type: ignore[operator]
        return [slot[0] for slot in merged.values()], combined

    def _combine(self, total: Rows, count: Rows, high: Rows, low: Rows) -> Rows:
        parts = (total, count, high, low)
        if (
            all(
                isinstance(p, np.ndarray) and p.dtype == np.float64 and p.flags.c_contiguous
                for p in parts
            )
            and total.ndim == 2
        ):  # on the host: one compiled call
            kinds = self._kinds.get(total.shape[1])
            if kinds is None:
                kinds = np.zeros(total.shape[1], dtype=np.int64)
                for kind, columns in enumerate((self._maxima, self._minima, self._sums), 1):
                    kinds[[c for c in columns if c < len(kinds)]] = kind
                self._kinds[total.shape[1]] = kinds
            return combine_means(*parts, kinds)  # type: ignore[arg-type,no-any-return]
        out = _divide(total, count)  # a new matrix
        if self._maxima:
            out[:, self._maxima] = high[:, self._maxima]  # type: ignore[assignment]
        if self._minima:
            out[:, self._minima] = low[:, self._minima]  # type: ignore[assignment]
        if self._sums:
            counted = count[:, self._sums] > 0
            sums = total[:, self._sums]
            if isinstance(out, Tensor):
                out[:, self._sums] = torch.where(counted, sums, torch.nan)  # type: ignore[arg-type]
            else:
                out[:, self._sums] = np.where(counted, sums, np.nan)
        return out

    def clear(self) -> None:
        self._groups.clear()


def _divide(total: Rows, count: Rows) -> Rows:
    """``total / count``, NaN where ``count`` is 0 (as torch divides; numpy warns too)."""
    if isinstance(total, Tensor):
        return total / count
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def weighted_layer(name: str, m: nn.Module) -> Layer:
    if isinstance(m, nn.MultiheadAttention):
        projections = (m.in_proj_weight, m.q_proj_weight, m.k_proj_weight, m.v_proj_weight)
        in_w: list[Tensor] = [p for p in projections if p is not None]
        tname = type(m).__name__
        sub = [
            Layer(f"{name}.in_proj", tname, in_w),
            Layer(f"{name}.out_proj", tname, [m.out_proj.weight]),
        ]
        return Layer(name, tname, [], sub=sub)
    if isinstance(m, nn.RNNBase):
        weights: list[Tensor] = [
            p for n, p in m.named_parameters(recurse=False) if n.startswith("weight")
        ]
    else:
        w = getattr(m, "weight", None)
        weights = [w] if isinstance(w, nn.Parameter) else []
    return Layer(name, type(m).__name__, weights)


def first_grad_tensor(output: Any) -> Tensor | None:
    if isinstance(output, Tensor):
        return output if output.requires_grad else None
    items = output.values() if isinstance(output, dict) else output
    if isinstance(items, (tuple, list)) or isinstance(output, dict):
        for item in items:
            found = first_grad_tensor(item)
            if found is not None:
                return found
    return None


def flat_cat(tensors: Sequence[Tensor]) -> Tensor:
    """One tensor (as it is) or several, flattened and joined outside autograd."""
    if len(tensors) == 1:
        return tensors[0]
    with torch.no_grad():
        return torch.cat([t.reshape(-1) for t in tensors])


def host_rows(parts: list[Tensor | np.ndarray]) -> list[list[float]]:
    """The rows of every part (a vector: one value per row; a matrix: one row per row), as
    lists of floats, with one device-to-host copy for all the device tensors among them."""
    copied: Iterator[np.ndarray] = iter(())
    device = [p for p in parts if isinstance(p, Tensor)]
    if device:
        joined = torch.cat([p.to(dtype=torch.float64).reshape(-1) for p in device]).cpu()
        ends = np.cumsum([p.numel() for p in device])[:-1]
        copied = iter(np.split(joined.numpy(), ends))
    values: list[list[float]] = []
    for part in parts:
        array = next(copied).reshape(part.shape) if isinstance(part, Tensor) else part
        values += array.reshape(len(array), -1).tolist()
    return values


def count_inactive_outputs(
    out: Tensor,
    rule: Inactive,
    sample_size: int,
    generator: Callable[[torch.device], torch.Generator],
) -> tuple[Tensor | int, int]:
    """How many of an activation's outputs are inactive, and of how many: all of them, or a
    uniform sample of ``sample_size`` when there are more than ``64 * sample_size``
    (``generator(device)`` draws it). On the CPU a compiled kernel counts (torch's per-call
    costs would dominate) and the count is an int; elsewhere it stays a device tensor."""
    n = out.numel()
    big = n > 64 * sample_size
    if out.device.type == "cpu":
        draws = _NO_DRAWS
        if big:
            gen = generator(out.device)
            draws = torch.rand(sample_size, dtype=torch.float64, generator=gen).numpy()
        return count_inactive(flat_array(out), *rule, draws), sample_size if big else n
    if big:
        idx = torch.randint(
            0, n, (sample_size,), generator=generator(out.device), device=out.device
        )
        out = torch.take(out, idx)
    return torch.count_nonzero(inactive_mask(out, rule)), out.numel()
