"""Ring throughput: 32 writer processes at 1,000 records/s each for 10 s, one monitor reading.

Each writer owns a ring (as each slot does) and paces itself to 1,000 records/s; the real
Monitor thread drains all 32 rings. Prints the reader's lag (write -> read) and lost
records. Target: lag <= 50 ms, 0 lost.
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import time

from bttackler.core.ring import Kind, RingReader, RingWriter, attach, create_ring, shm_name
from bttackler.runtime.monitor import Assembler, Monitor

WRITERS = 32
RATE = 1000  # records per second per writer
SECONDS = 10.0
CAPACITY = 8192  # the default ring_capacity


def writer(name: str, start_at: float) -> None:
    shm = attach(name)
    ring = RingWriter(shm.buf)
    while time.time() < start_at:
        time.sleep(0.001)
    sent, begin, total = 0, time.monotonic(), int(RATE * SECONDS)
    while sent < total:
        elapsed = time.monotonic() - begin
        due = min(total, int(elapsed * RATE))
        while sent < due:
            ring.write(Kind.GRAD, 1, epoch=sent, index=sent % 10, name="layer", values=[0.5] * 14)
            sent += 1
        time.sleep(0.002)
    shm.close()


def main() -> None:
    ctx = multiprocessing.get_context("spawn")
    shms = [create_ring(shm_name("ringbench", i), CAPACITY) for i in range(WRITERS)]
    try:
        readers = [RingReader(s.buf) for s in shms]
        monitor = Monitor(readers, [Assembler(i, lambda t: t) for i in range(WRITERS)],
                          keep_lags=True)  # fmt: skip
        start_at = time.time() + 3.0  # let every writer process start first
        procs = [ctx.Process(target=writer, args=(s.name, start_at)) for s in shms]
        for p in procs:
            p.start()
        monitor.start()
        for p in procs:
            p.join()
        monitor.stop()
        lags = monitor.lags or [0.0]
        expected = int(WRITERS * RATE * SECONDS)
        lags_sorted = sorted(lags)
        p99 = lags_sorted[int(0.99 * (len(lags_sorted) - 1))]
        print(f"{WRITERS} writers x {RATE} records/s x {SECONDS:g} s = {expected} records")
        print(f"read {monitor.records_read}, lost {monitor.lost} (target 0)")
        print(
            f"lag write->read: median {statistics.median(lags) * 1000:.2f} ms, p99 "
            f"{p99 * 1000:.2f} ms, max {max(lags) * 1000:.2f} ms; target max <= 50 ms: ratio "
            f"{max(lags) / 0.05:.2f} {'(OK)' if max(lags) <= 0.05 else '(MISSED)'}"
        )
        ok = monitor.lost == 0 and monitor.records_read == expected
        print("all records arrived" if ok else "RECORDS MISSING")
        sys.exit(0 if ok else 1)
    finally:
        for s in shms:
            s.close()
            s.unlink()


if __name__ == "__main__":
    main()
