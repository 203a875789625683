"""Wall time per training epoch with the probe off vs on (target: on/off <= 1.02).

Same model init, seed and data for both arms; epochs are interleaved (off, on, off, on, ...)
in one process on one thread, and the median of each arm is compared. The probe's ``emit``
appends to a list and ``flush`` runs at the end of every "on" epoch, as ``trial.report`` would.

Usage: python benchmarks/probe_overhead.py [--repeats N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence

import torch
from sklearn.datasets import load_digits
from torch import Tensor, nn

from bttackler.probe import Probe


def cifar_cnn() -> nn.Module:
    """The paper's Cifar10CNN shape: 4 conv + 3 fc."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 8 * 8, 256),
        nn.ReLU(),
        nn.Linear(256, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def digits_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def cifar_data(n: int = 2000) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def digits_data() -> tuple[Tensor, Tensor]:
    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    return x, torch.tensor(d.target, dtype=torch.long)


def run_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: Tensor, y: Tensor) -> None:
    model.train()
    for i in range(0, len(x), 64):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x[i : i + 64]), y[i : i + 64])
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():  # a validation pass, as a trial would do; not recorded
        model(x[:256])


def bench(
    name: str,
    make: Callable[[], nn.Module],
    data: tuple[Tensor, Tensor],
    repeats: int,
    epochs_per_sample: int,
) -> tuple[str, float, float, float, float, int, tuple[float, float]]:
    x, y = data
    torch.manual_seed(0)
    model = make()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    records: list[tuple[str, int, str, Sequence[float]]] = []

    def emit(kind: str, index: int, layer: str, values: Sequence[float]) -> None:
        records.append((kind, index, layer, values))

    run_epoch(model, opt, x, y)  # warm-up (allocator, kernels)
    times: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeats):
        for on in (False, True):
            model.load_state_dict(state)  # same weights for both arms
            probe = Probe(model, emit) if on else None
            t0, c0 = time.perf_counter(), time.thread_time()
            for epoch in range(epochs_per_sample):
                run_epoch(model, opt, x, y)
                if probe is not None:
                    probe.flush(epoch)
            times[on].append((time.perf_counter() - t0) / epochs_per_sample)
            cpu[on].append((time.thread_time() - c0) / epochs_per_sample)
            if probe is not None:
                probe.close()
    med = statistics.median
    # Each "on" sample is compared with the "off" sample run just before it: slow drifts of a
    # shared machine cancel out, which the ratio of the two medians does not do.
    ratios = [on / off for off, on in zip(cpu[False], cpu[True])]
    paired = med(ratios)
    # 95% bootstrap interval of the median paired ratio: how far noise alone moves it here.
    rng = random.Random(0)
    boots = sorted(med(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
    interval = (boots[50], boots[1949])
    return (
        name,
        med(times[False]),
        med(times[True]),
        min(times[True]) / min(times[False]),
        paired,
        len(records),
        interval,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--digits-repeats", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = [
        bench("cifar-cnn 2000x3x32x32", cifar_cnn, cifar_data(), args.repeats, 1),
        bench("digits-cnn 1797x1x8x8", digits_cnn, digits_data(), args.digits_repeats, 10),
    ]
    head = ("model", "off s/ep", "on s/ep", "on/off", "min ratio", "paired cpu", "95% interval")
    print("{:<24} {:>9} {:>9} {:>8} {:>9} {:>10} {:>15}".format(*head))
    for name, off, on, min_ratio, cpu_ratio, _n, (low, high) in results:
        verdict = "ok" if high <= 1.02 else "OVER" if low > 1.02 else "undecided (noise)"
        print(
            f"{name:<24} {off:>9.4f} {on:>9.4f} {on / off:>8.4f} {min_ratio:>9.4f}"
            f" {cpu_ratio:>10.4f}   {low:.3f}-{high:.3f}  {verdict}"
        )
    print("on/off: median wall time per epoch, interleaved repeats, 1 thread, batch 64;")
    print("min ratio: fastest on / fastest off; paired cpu: median over repeats of the thread")
    print("CPU time of an 'on' sample over the 'off' sample before it, with its 95% bootstrap")
    print("interval. Target <= 1.02: ok when the whole interval is below, OVER when above.")


if __name__ == "__main__":
    main()
