"""Image batches as the image tasks feed them: uint8 (N, C, H, W) kept as they are on disk and
scaled, augmented and normalised per batch, so a 50k-image set stays 150 MB, not 600."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from bttackler.tasks._training import BatchFn


def random_crop_flip(
    x: torch.Tensor, *, pad: int = 4, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random crop after zero padding by ``pad`` pixels, then a random horizontal flip.

    ``x`` is a float batch (N, C, H, W); each image gets its own offset and coin.
    """
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :]).to(x.device)  # (n, h)
    cols = (dx[:, None] + torch.arange(w)[None, :]).to(x.device)  # (n, w)
    idx_n = torch.arange(n, device=x.device)[:, None, None, None]
    idx_c = torch.arange(c, device=x.device)[None, :, None, None]
    out = padded[idx_n, idx_c, rows[:, None, :, None], cols[:, None, None, :]]
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


def channel_stats(x: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images (N, C, H, W) scaled to [0, 1], in chunks."""
    n, c = x.shape[0], x.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    for start in range(0, n, chunk):
        part = x[start : start + chunk].to(torch.float64) / 255.0
        total += part.sum(dim=(0, 2, 3))
        total_sq += (part * part).sum(dim=(0, 2, 3))
    count = n * x.shape[2] * x.shape[3]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-12).sqrt()
    return mean.float(), std.float()


def image_prepare(
    mean: torch.Tensor,
    std: torch.Tensor,
    *,
    augment: bool,
    generator: torch.Generator | None = None,
    as_rows: bool = False,
) -> BatchFn:
    """Batch transform for uint8 images (N, C, H, W): scale, augment when training, normalise.

    ``augment`` is random crop (pad 4) + horizontal flip, on training batches only.
    ``as_rows`` returns (N, H, C*W) sequences of rows for recurrent models.
    """

    def prepare(x: torch.Tensor, training: bool) -> torch.Tensor:
        out = x.float() / 255.0
        if augment and training:
            out = random_crop_flip(out, pad=4, generator=generator)
        m = mean.to(out.device)[None, :, None, None]
        s = std.to(out.device)[None, :, None, None]
        out = (out - m) / s
        if as_rows:
            n, c, h, w = out.shape
            out = out.permute(0, 2, 1, 3).reshape(n, h, c * w)
        return out

    return prepare
