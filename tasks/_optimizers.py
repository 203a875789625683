"""The optimizer hyperparameter: the five optimizers of the paper's spaces, chosen by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "rmsprop", "adagrad", "adadelta")


def make_optimizer(
    name: str, parameters: Iterable[torch.nn.Parameter], *, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """An optimizer by name (one of :data:`OPTIMIZERS`), library defaults otherwise."""
    classes: dict[str, Callable[..., torch.optim.Optimizer]] = {
        "sgd": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "rmsprop": torch.optim.RMSprop,
        "adagrad": torch.optim.Adagrad,
        "adadelta": torch.optim.Adadelta,
    }
    try:
        cls = classes[str(name)]
    except KeyError:
        raise ValueError(f"optimizer={name!r}: expected one of {OPTIMIZERS}") from None
    return cls(parameters, lr=float(lr), weight_decay=float(weight_decay))
