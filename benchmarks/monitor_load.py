"""Monitor load: many simulated trials reporting at once, all seven indicators judging.

16 writer processes each play a trial of a 10-layer network reporting 20 epochs per second
(weights, gradients, activations and metrics: 30 records an epoch; real trials report far
less often) for 10 s, through real rings, into the real Monitor and Diagnoser. Prints the
evaluation lag per epoch record (record written -> every indicator has judged it) and the
CPU time of the monitor thread and of the indicator threads, as a share of one core.
"""

from __future__ import annotations

import multiprocessing
import statistics
import threading
import time
from typing import Any

from bttackler.core.history import TrialHistory
from bttackler.core.ring import Kind, RingReader, RingWriter, attach, create_ring, shm_name
from bttackler.diagnosis import Diagnoser, GuardSettings
from bttackler.diagnosis.indicators import build_indicators
from bttackler.runtime.monitor import Assembler, Monitor

TRIALS = 16
EPOCHS_PER_SECOND = 20
SECONDS = 10.0
LAYERS = 10
MAX_EPOCHS = 400


def trial_writer(name: str, trial_id: int, start_at: float) -> None:
    shm = attach(name)
    ring = RingWriter(shm.buf)
    while time.time() < start_at:
        time.sleep(0.001)
    total = int(EPOCHS_PER_SECOND * SECONDS)
    begin = time.monotonic()
    for epoch in range(total):
        while time.monotonic() - begin < epoch / EPOCHS_PER_SECOND:
            time.sleep(0.001)
        for layer in range(LAYERS):
            stats = [0.0, 1e-4, 0.0, -0.1, 0.1, 0.05, -0.05, 0.0, 0.0, 0.0, 0, 0, 0.05, 0.1]
            ring.write(Kind.WEIGHT, trial_id, index=2 * layer, name=f"l{layer}", values=stats)
            grad = [v * (0.3 ** (LAYERS - layer)) for v in stats]
            ring.write(Kind.GRAD, trial_id, index=2 * layer, name=f"l{layer}", values=grad)
            if layer % 2:
                ring.write(Kind.ACTIVATION, trial_id, index=2 * layer + 1, name=f"a{layer}",
                           values=[0.5])  # fmt: skip
        loss = 2.3 / (1 + epoch)
        for metric, value in (("train_loss", loss), ("val_loss", loss), ("val_acc", 0.5)):
            ring.write(Kind.METRIC, trial_id, epoch=epoch, name=metric, values=[value])
        ring.write(Kind.EPOCH, trial_id, epoch=epoch, values=[3])
    shm.close()


class Timed:
    """Wraps an indicator to time the end of each judgement."""

    def __init__(self, inner: Any, done: list[tuple[int, int, float]]) -> None:
        self.inner = inner
        self.short_name = inner.short_name
        self.stage = inner.stage
        self.guarded = getattr(inner, "guarded", False)
        self.done = done

    def check(self, history: TrialHistory) -> Any:
        verdict = self.inner.check(history)
        self.done.append((history.trial_id, len(history.epochs), time.time()))
        return verdict


def thread_cpu(thread: threading.Thread) -> float:
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident or 0))


def main() -> None:
    ctx = multiprocessing.get_context("spawn")
    shms = [create_ring(shm_name("monload", i), 8192) for i in range(TRIALS)]
    done: list[tuple[int, int, float]] = []
    written: dict[tuple[int, int], float] = {}
    try:
        assemblers = [Assembler(i, lambda t: t) for i in range(TRIALS)]
        for i, a in enumerate(assemblers):
            a.expect(i + 1, {}, MAX_EPOCHS)
        indicators = [Timed(ind, done) for ind in build_indicators({})]
        diagnoser = Diagnoser(indicators, lambda *_: None, guard=GuardSettings(enabled=True))

        def on_event(event: Any) -> None:
            if hasattr(event, "history") and hasattr(event, "epoch"):
                written[(event.trial_id, len(event.history.epochs))] = event.history.epochs[-1].time
            diagnoser.on_event(event)

        monitor = Monitor([RingReader(s.buf) for s in shms], assemblers, on_event=on_event)
        start_at = time.time() + 3.0
        procs = [ctx.Process(target=trial_writer, args=(s.name, i + 1, start_at))
                 for i, s in enumerate(shms)]  # fmt: skip
        for p in procs:
            p.start()
        monitor.start()
        time.sleep(1.0)
        cpu0_monitor = thread_cpu(monitor)
        cpu0_ind = sum(thread_cpu(t) for t in diagnoser._threads)
        wall0 = time.monotonic()
        for p in procs:
            p.join()
        time.sleep(1.0)
        wall = time.monotonic() - wall0
        cpu_monitor = thread_cpu(monitor) - cpu0_monitor
        cpu_ind = sum(thread_cpu(t) for t in diagnoser._threads) - cpu0_ind
        monitor.stop()
        diagnoser.close()
    finally:
        for s in shms:
            s.close()
            s.unlink()
    last_done: dict[tuple[int, int], float] = {}
    for trial_id, count, t in done:
        last_done[(trial_id, count)] = max(t, last_done.get((trial_id, count), 0.0))
    lags = [last_done[k] - written[k] for k in last_done if k in written]
    lags.sort()
    epochs = TRIALS * int(EPOCHS_PER_SECOND * SECONDS)
    print(f"{TRIALS} trials x {EPOCHS_PER_SECOND} epochs/s x {SECONDS:g} s = {epochs} epochs "
          f"({monitor.records_read} records), {len(indicators)} indicators")  # fmt: skip
    print(f"judged epochs: {len(lags)}, lost ring records: {monitor.lost}, "
          f"indicator errors: {len(diagnoser.errors)}")  # fmt: skip
    p99 = lags[int(0.99 * (len(lags) - 1))]
    print(
        f"evaluation lag (epoch record written -> all indicators judged): median "
        f"{statistics.median(lags) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {lags[-1] * 1000:.1f} ms"
    )
    print(f"CPU: monitor thread {cpu_monitor / wall:.1%} of a core, indicator threads "
          f"{cpu_ind / wall:.1%} (over {wall:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
