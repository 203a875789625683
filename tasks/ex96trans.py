"""Ex96Trans, the paper's third task: a Transformer forecasting 96 days from 96 days.

The 8-country daily exchange-rate series (7,588 days) is split 70/10/20 in time order and
standardised with training statistics. The model is the vanilla encoder-decoder Transformer
of the Autoformer code base the authors used: a linear value embedding plus sinusoidal
positions, post-norm encoder and decoder layers (GELU feed-forward), a decoder fed the last
48 input days followed by 96 zeros, causal self-attention in the decoder, Adam, MSE loss, the
learning rate halved after every epoch. Attention projects to ``heads x ceil(d_model/heads)``
and back, so head counts that do not divide the model width work.

Table 1: 1 continuous (learning rate), 4 discrete (encoder layers, decoder layers, heads,
feed-forward width), 3 categorical (model width, batch size, dropout) hyperparameters.
Reports ``train_loss``, ``val_loss`` and ``mse`` (both the validation MSE, the objective)
and ``test_mse`` every epoch.

Task options: ``epochs`` (cap, default 20), ``train_size`` (training windows per epoch,
default all 5,120).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from bttackler.tasks._params import as_int
from bttackler.tasks._settings import (
    COMMON_OPTIONS,
    check_options,
    epochs_function,
    epochs_option,
    int_option,
    trial_data_dir,
    trial_device,
    trial_options,
    trial_seed,
)
from torch import nn

from bttackler.trialside.protocol import Trial

OBJECTIVE = "mse"
MODE = "min"
MAX_EPOCHS = 20
DEFAULT_SPACE = "search_spaces/ex96trans.yaml"
DESCRIPTION = "Ex96Trans (paper): Transformer forecasting 96 days of 8 exchange rates from 96"
DATA_SOURCE = "exchange_rate.txt(.gz) of LSTNet's data repository (md5-checked) or --data-dir"
OPTIONS: dict[str, str] = {
    **COMMON_OPTIONS,
    "train_size": "training windows per epoch (default: all, 5120 on the full series)",
}
epochs = epochs_function(MAX_EPOCHS)  # what --task-opt epochs=N makes a trial train

IN_LEN = 96
OUT_LEN = 96
LABEL_LEN = 48  # decoder start tokens: the last 48 input days
LR_DECAY = 0.5  # per epoch ("type1" schedule of the Autoformer code base)
EVAL_BATCH = 256


# --------------------------------------------------------------------------- model


class MultiHeadAttention(nn.Module):
    """Attention whose heads need not divide ``d_model``: project to heads x head_dim."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        if d_model < 1 or n_heads < 1:
            raise ValueError(f"d_model={d_model}, n_heads={n_heads}: expected positive sizes")
        self.n_heads = n_heads
        self.head_dim = math.ceil(d_model / n_heads)
        inner = n_heads * self.head_dim
        self.q = nn.Linear(d_model, inner)
        self.k = nn.Linear(d_model, inner)
        self.v = nn.Linear(d_model, inner)
        self.out = nn.Linear(inner, d_model)
        self.dropout = dropout

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        n, t, _ = x.shape
        return x.view(n, t, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *, causal: bool = False
    ) -> torch.Tensor:
        q, k, v = self._split(self.q(query)), self._split(self.k(key)), self._split(self.v(value))
        att = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=causal
        )
        n, _, t, _ = att.shape
        return self.out(att.transpose(1, 2).reshape(n, t, self.n_heads * self.head_dim))


class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_ff)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(d_ff, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.drop(self.attn(x, x, x)))
        return self.norm2(x + self.ff(x))


class DecoderLayer(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.drop(self.self_attn(x, x, x, causal=True)))
        x = self.norm2(x + self.drop(self.cross_attn(x, memory, memory)))
        return self.norm3(x + self.ff(x))


def sinusoidal_positions(length: int, d_model: int) -> torch.Tensor:
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(1e4) / d_model))
    pe = torch.zeros(length, d_model)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
    return pe


class Embedding(nn.Module):
    def __init__(self, channels: int, d_model: int, dropout: float, max_len: int) -> None:
        super().__init__()
        self.value = nn.Linear(channels, d_model)
        self.pe: torch.Tensor
        self.register_buffer("pe", sinusoidal_positions(max_len, d_model), persistent=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.value(x) + self.pe[: x.shape[1]])


class Forecaster(nn.Module):
    """Encoder-decoder Transformer: (N, in_len, C) -> (N, out_len, C)."""

    def __init__(
        self,
        *,
        channels: int,
        d_model: int,
        n_heads: int,
        e_layers: int,
        d_layers: int,
        d_ff: int,
        dropout: float,
        label_len: int = LABEL_LEN,
        out_len: int = OUT_LEN,
    ) -> None:
        super().__init__()
        if e_layers < 1 or d_layers < 1:
            raise ValueError(f"e_layers={e_layers}, d_layers={d_layers}: expected >= 1")
        self.label_len = label_len
        self.out_len = out_len
        max_len = max(IN_LEN, label_len + out_len)
        self.enc_embed = Embedding(channels, d_model, dropout, max_len)
        self.dec_embed = Embedding(channels, d_model, dropout, max_len)
        self.encoder = nn.ModuleList(
            EncoderLayer(d_model, n_heads, d_ff, dropout) for _ in range(e_layers)
        )
        self.enc_norm = nn.LayerNorm(d_model)
        self.decoder = nn.ModuleList(
            DecoderLayer(d_model, n_heads, d_ff, dropout) for _ in range(d_layers)
        )
        self.dec_norm = nn.LayerNorm(d_model)
        self.projection = nn.Linear(d_model, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        memory = self.enc_embed(x)
        for layer in self.encoder:
            memory = layer(memory)
        memory = self.enc_norm(memory)
        start = x[:, -self.label_len :]
        dec_in = torch.cat([start, torch.zeros_like(x[:, : self.out_len])], dim=1)
        h = self.dec_embed(dec_in)
        for layer in self.decoder:
            h = layer(h, memory)
        return self.projection(self.dec_norm(h))[:, -self.out_len :]


def build_model(params: Mapping[str, Any], *, channels: int) -> Forecaster:
    return Forecaster(
        channels=channels,
        d_model=as_int(params["d_model"]),
        n_heads=as_int(params["n_heads"]),
        e_layers=as_int(params["e_layers"]),
        d_layers=as_int(params["d_layers"]),
        d_ff=as_int(params["d_ff"]),
        dropout=float(params["dropout"]),
    )


# --------------------------------------------------------------------------- training


def _mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(x), EVAL_BATCH):
            xb = x[start : start + EVAL_BATCH].to(device)
            yb = y[start : start + EVAL_BATCH].to(device)
            total += float(F.mse_loss(model(xb), yb, reduction="sum"))
    value = total / y.numel()
    return value if math.isfinite(value) else float("nan")


def train_forecaster(
    params: Mapping[str, Any],
    trial: Trial,
    *,
    series: np.ndarray,
    options: Mapping[str, str],
    max_epochs: int,
) -> None:
    """Split, window, train and report; shared with the Garch stand-in."""
    from bttackler.tasks.data.exchange_rate import chronological_split, windows

    epochs = epochs_option(options, max_epochs)
    seed = trial_seed(trial)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    device = trial_device(trial)

    split = chronological_split(series, lookback=IN_LEN)
    train_x, train_y = windows(split.train, IN_LEN, OUT_LEN)
    val_x, val_y = windows(split.val, IN_LEN, OUT_LEN)
    test_x, test_y = windows(split.test, IN_LEN, OUT_LEN)
    train_size = int_option(options, "train_size", len(train_x))
    if train_size < len(train_x):  # a fixed subset, the same for every trial
        keep = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(0))
        keep = keep[:train_size].sort().values
        train_x, train_y = train_x[keep], train_y[keep]

    model = build_model(params, channels=series.shape[1]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(params["lr"]))
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=LR_DECAY)
    batch_size = as_int(params["batch_size"])
    trial.watch(model)
    for epoch in range(epochs):
        model.train()
        loss_sum = 0.0
        order = torch.randperm(len(train_x), generator=generator)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            xb, yb = train_x[idx].to(device), train_y[idx].to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = F.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(idx)
        scheduler.step()
        train_loss = loss_sum / len(order)
        val_mse = _mse(model, val_x, val_y, device)
        trial.report(
            epoch,
            train_loss=train_loss if math.isfinite(train_loss) else float("nan"),
            val_loss=val_mse,
            mse=val_mse,
            test_mse=_mse(model, test_x, test_y, device),
        )


def run(params: dict[str, Any], trial: Trial) -> None:
    """Train one configuration on the exchange-rate series, reporting MSEs every epoch."""
    from bttackler.tasks.data import exchange_rate

    options = check_options(trial_options(trial), OPTIONS, "ex96trans")
    series = exchange_rate.load(trial_data_dir(trial))
    train_forecaster(params, trial, series=series, options=options, max_epochs=MAX_EPOCHS)


def prepare(options: dict[str, str], data_dir: Any) -> None:
    """Called once by the runner before the search: checks the options and makes sure the data
    is there (downloading it when possible), so a missing file is one clear error up front."""
    from bttackler.tasks.data import exchange_rate

    check_options(options, OPTIONS, "ex96trans")
    exchange_rate.load(data_dir)
