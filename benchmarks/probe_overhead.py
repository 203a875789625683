"""Training time with the probe on vs off (target: on/off <= 1.02).

Three copies of one model (same initial weights, seed and data) train side by side in one
process on one thread: "on" has a :class:`Probe` (its ``flush`` runs after every epoch, as
``trial.report`` would; ``emit`` appends to a list); "off" and "control" have none. They take
turns batch by batch, in a random order each round, and every step is timed (thread CPU time
and wall time). Interleaving at the batch level cancels the slow drifts of a shared machine,
which dominate when whole runs are compared.

Workloads: a CIFAR-sized CNN (the paper's Cifar10CNN shape) on random 32x32 tensors with SGD;
and the default task as a trial runs it: ``tasks.digits``' model at a typical configuration,
its optimizer, its shuffled training split, its training step
(``tasks._training.train_step``) and its validation pass after every epoch
(``tasks._training.evaluate_classifier``).

Reported per model: "on" over the mean of the two probe-free copies, as the ratio of total
time over the whole run (all epochs: the probe's first, unadapted epoch included) with a 95%
bootstrap interval over epochs; and control / off, an A/A check of the harness: it shows
how far two identical copies differ here (memory placement, noise), which bounds how
precisely on/off can be read.

Usage: python benchmarks/probe_overhead.py [--epochs N] [--digits-epochs N]
"""

from __future__ import annotations

import argparse
import copy
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from _common import DIGITS
from bttackler.tasks import digits as digits_task
from bttackler.tasks._optimizers import make_optimizer
from bttackler.tasks._splits import Split
from bttackler.tasks._training import evaluate_classifier, train_step
from torch import Tensor, nn

from bttackler.trialside.kernels import warm_up
from bttackler.trialside.probe import Probe

Emit = Callable[[str, int, str, Sequence[float]], None]
ARMS = ("off", "on", "control")


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


@dataclass
class Workload:
    """A model, how it is optimised, what it trains on and what ends its epochs."""

    name: str
    make_model: Callable[[], nn.Module]
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer]
    train: Split
    batch_size: int
    shuffle: bool  # a new order of the training split every epoch (the same for every copy)
    validate: Callable[[nn.Module], None]  # the pass after every epoch (not recorded)


def cifar_workload() -> Workload:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2000, 3, 32, 32, generator=g), torch.randint(0, 10, (2000,), generator=g)

    def validate(model: nn.Module) -> None:
        model.eval()
        with torch.no_grad():
            model(x[:256])

    return Workload(
        "cifar-cnn 2000x3x32x32",
        cifar_cnn,
        lambda model: torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
        Split(x, y),
        64,
        False,
        validate,
    )


def digits_workload() -> Workload:
    """The default task's training loop at a typical configuration."""
    train, val = digits_task.load_split()

    def validate(model: nn.Module) -> None:
        evaluate_classifier(model, val, prepare=lambda x, training: x, device=torch.device("cpu"))

    def optimizer(model: nn.Module) -> torch.optim.Optimizer:
        return make_optimizer(
            str(DIGITS["optimizer"]),
            model.parameters(),
            lr=float(DIGITS["lr"]),  # type: ignore[arg-type]
            weight_decay=float(DIGITS["weight_decay"]),  # type: ignore[arg-type]
        )

    return Workload(
        "digits task 1437x1x8x8",
        lambda: digits_task.build_model(DIGITS),
        optimizer,
        train,
        int(DIGITS["batch_size"]),  # type: ignore[call-overload]
        True,
        validate,
    )


class Arm:
    """One copy of the model, its optimizer, its probe (arm "on" only) and its timings."""

    def __init__(self, model: nn.Module, work: Workload, emit: Emit | None) -> None:
        self.model = model
        self.work = work
        self.opt = work.make_optimizer(model)
        self.cpu = 0.0
        self.wall = 0.0
        self._began: float | None = None
        self.sampled: list[int] = []
        # The probe's budget clock is this arm's own CPU time: the thread's would count the
        # other arms too, a 3x more generous budget than a trial alone would see.
        self.probe = None if emit is None else Probe(model, emit, clock=self.clock)

    def clock(self) -> float:
        """CPU seconds this arm has run (its timed work only)."""
        running = 0.0 if self._began is None else time.thread_time() - self._began
        return self.cpu + running

    def timed(self, work: Callable[..., None], *args: object) -> None:
        t0 = time.perf_counter()
        self._began = time.thread_time()
        work(*args)
        self.cpu += time.thread_time() - self._began
        self._began = None
        self.wall += time.perf_counter() - t0

    def step(self, idx: Tensor) -> None:
        self.model.train()
        train_step(self.model, self.opt, self.work.train.x[idx], self.work.train.y[idx])

    def end_epoch(self, epoch: int) -> None:
        self.work.validate(self.model)
        if self.probe is not None:
            self.sampled.append(self.probe.sampled_batches)
            self.probe.flush(epoch)


@dataclass
class Ratio:
    value: float  # total time of one arm over total time of another
    low: float
    high: float


def whole_run_ratio(on: list[float], off: list[float], rng: random.Random) -> Ratio:
    """sum(on) / sum(off) over epochs, with a 95% bootstrap interval (epochs resampled)."""
    pairs = list(zip(on, off))
    boots = []
    for _ in range(2000):
        draw = rng.choices(pairs, k=len(pairs))
        boots.append(sum(a for a, _ in draw) / sum(b for _, b in draw))
    boots.sort()
    return Ratio(sum(on) / sum(off), boots[50], boots[1949])


@dataclass
class Result:
    name: str
    off_seconds: float  # CPU seconds per epoch, probe off
    cpu: Ratio  # on / mean(off, control), thread CPU time
    wall: Ratio  # on / mean(off, control), wall time
    control: Ratio  # control / off, thread CPU time (A/A)
    sampled: float  # mean sampled batches per epoch, probe on
    batches: int


def bench(work: Workload, epochs: int) -> Result:
    torch.manual_seed(0)
    template = work.make_model()
    records: list[tuple[str, int, str, Sequence[float]]] = []

    def emit(kind: str, index: int, layer: str, values: Sequence[float]) -> None:
        records.append((kind, index, layer, values))

    arms = {arm: Arm(copy.deepcopy(template), work, emit if arm == "on" else None) for arm in ARMS}
    warm_up()  # the probe's compiled kernel, as a worker slot loads it before any trial
    n = len(work.train)
    warm = Arm(copy.deepcopy(template), work, None)  # allocator and kernels, untimed
    for i in range(0, n, work.batch_size):
        warm.step(torch.arange(i, min(i + work.batch_size, n)))
    order = random.Random(1)
    shuffle = torch.Generator().manual_seed(0)
    per_epoch: dict[str, dict[str, list[float]]] = {a: {"cpu": [], "wall": []} for a in ARMS}
    for epoch in range(epochs):
        before = {key: (arm.cpu, arm.wall) for key, arm in arms.items()}
        perm = torch.randperm(n, generator=shuffle) if work.shuffle else torch.arange(n)
        for i in range(0, n, work.batch_size):
            idx = perm[i : i + work.batch_size]
            for arm in order.sample(list(arms.values()), len(arms)):
                arm.timed(arm.step, idx)
        for arm in order.sample(list(arms.values()), len(arms)):
            arm.timed(arm.end_epoch, epoch)
        for key, arm in arms.items():
            per_epoch[key]["cpu"].append(arm.cpu - before[key][0])
            per_epoch[key]["wall"].append(arm.wall - before[key][1])
    rng = random.Random(0)
    off = per_epoch["off"]

    def baseline(clock: str) -> list[float]:
        """Per epoch, the mean of the two probe-free copies."""
        return [(a + b) / 2 for a, b in zip(off[clock], per_epoch["control"][clock])]

    return Result(
        work.name,
        sum(off["cpu"]) / epochs,
        whole_run_ratio(per_epoch["on"]["cpu"], baseline("cpu"), rng),
        whole_run_ratio(per_epoch["on"]["wall"], baseline("wall"), rng),
        whole_run_ratio(per_epoch["control"]["cpu"], off["cpu"], rng),
        sum(arms["on"].sampled) / epochs,
        -(-n // work.batch_size),
    )


def verdict(ratio: Ratio, target: float = 1.02) -> str:
    if ratio.high <= target:
        return "ok"
    return "OVER" if ratio.low > target else "undecided (noise)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8, help="CIFAR-sized CNN epochs")
    parser.add_argument("--digits-epochs", type=int, default=60, help="default task epochs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = [bench(cifar_workload(), args.epochs), bench(digits_workload(), args.digits_epochs)]
    head = ("model", "off s/ep", "samples/ep", "wall on/off", "cpu on/off", "A/A control")
    print("{:<24} {:>8} {:>10} {:>21} {:>21} {:>21}".format(*head))
    for r in results:
        cells = [f"{q.value:.4f} ({q.low:.3f}-{q.high:.3f})" for q in (r.wall, r.cpu, r.control)]
        print(
            f"{r.name:<24} {r.off_seconds:>8.3f} {r.sampled:>4.1f}/{r.batches:<5}"
            f" {cells[0]:>21} {cells[1]:>21} {cells[2]:>21}  {verdict(r.wall)}"
        )
    print("Ratios: total time of the whole run, probe on / off (off: the mean of two probe-free")
    print("copies; their ratio is the A/A control), models interleaved batch by batch;")
    print("95% bootstrap interval over epochs.")
    print("Target wall on/off <= 1.02: ok when the whole interval is below, OVER when above.")


if __name__ == "__main__":
    main()
