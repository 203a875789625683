"""The networks of the built-in tasks: the paper's Cifar10CNN shape (4 conv + 3 fc), a
row-by-row LSTM classifier and a plain MLP, with activations chosen by name. Plain PyTorch;
no torchvision."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS: tuple[str, ...] = ("relu", "tanh", "sigmoid", "elu", "leaky_relu")


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (one of :data:`ACTIVATIONS`)."""
    factories: dict[str, Callable[[], nn.Module]] = {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "elu": nn.ELU,
        "leaky_relu": nn.LeakyReLU,
    }
    try:
        return factories[str(name)]()
    except KeyError:
        raise ValueError(f"activation={name!r}: expected one of {ACTIVATIONS}") from None


class ConvNet(nn.Module):
    """4 convolutions + 3 fully connected layers, the shape of the paper's Cifar10CNN.

    conv1 -> act -> [bn] -> conv2 -> act -> pool -> [bn] -> conv3 -> act -> [bn]
    -> conv4 -> act -> pool -> [bn] -> fc1 -> act -> fc2 -> act -> dropout -> fc3.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        image_size: int,
        widths: tuple[int, int, int, int],
        kernel_size: int,
        hidden: int,
        num_classes: int,
        activation: str,
        batch_norm: bool,
        dropout: float,
        padding: int = 0,
    ) -> None:
        super().__init__()
        if len(widths) != 4 or min(widths) < 1:
            raise ValueError(f"widths={widths}: expected four positive conv widths")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout}: expected 0 <= dropout < 1")
        chans = (in_channels, *widths)
        self.convs = nn.ModuleList(
            nn.Conv2d(chans[i], chans[i + 1], kernel_size, padding=padding) for i in range(4)
        )
        self.norms = nn.ModuleList(
            nn.BatchNorm2d(w) if batch_norm else nn.Identity() for w in widths
        )
        self.acts = nn.ModuleList(make_activation(activation) for _ in range(6))
        with torch.no_grad():
            flat = self._features(torch.zeros(1, in_channels, image_size, image_size)).shape[1]
        self.fc1 = nn.Linear(flat, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)
        self.fc3 = nn.Linear(hidden, num_classes)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = self.acts[i](conv(x))
            if i in (1, 3):
                x = F.max_pool2d(x, 2)
            x = norm(x)
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._features(x)
        x = self.acts[4](self.fc1(x))
        x = self.acts[5](self.fc2(x))
        return self.fc3(self.drop(x))


class RowLSTM(nn.Module):
    """Classify an image read as a sequence of rows with an LSTM (last step -> linear)."""

    def __init__(
        self,
        *,
        input_size: int,
        hidden: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
        num_classes: int,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout}: expected 0 <= dropout < 1")
        self.lstm = nn.LSTM(
            input_size,
            hidden,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, rows, features); the last step sees every row (both ends if bidirectional).
        out, _ = self.lstm(x)
        return self.fc(self.drop(out[:, -1]))


class MLP(nn.Module):
    """``depth`` hidden layers of ``hidden`` units: linear -> [bn] -> act -> dropout, then a
    linear output layer.

    ``init_scale`` multiplies PyTorch's default initialisation of every weight matrix (1: the
    default): small scales make signals and gradients vanish through a deep net, large ones
    saturate sigmoid/tanh units or blow up ReLU activations, as a wide search space should.
    """

    def __init__(
        self,
        *,
        in_features: int,
        hidden: int,
        depth: int,
        outputs: int,
        activation: str,
        batch_norm: bool,
        dropout: float,
        init_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if depth < 1 or hidden < 1:
            raise ValueError(f"depth={depth}, hidden={hidden}: expected positive sizes")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout}: expected 0 <= dropout < 1")
        if not init_scale > 0:
            raise ValueError(f"init_scale={init_scale}: expected a positive number")
        sizes = (in_features, *([hidden] * depth))
        self.layers = nn.ModuleList(nn.Linear(sizes[i], sizes[i + 1]) for i in range(depth))
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(hidden) if batch_norm else nn.Identity() for _ in range(depth)
        )
        self.acts = nn.ModuleList(make_activation(activation) for _ in range(depth))
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, outputs)
        with torch.no_grad():
            for layer in (*self.layers, self.out):
                layer.weight.mul_(init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer, norm, act in zip(self.layers, self.norms, self.acts):
            x = self.drop(act(norm(layer(x))))
        return self.out(x)


# --------------------------------------------------------------------------- data
