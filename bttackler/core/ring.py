"""Shared-memory ring buffer: one writer (the trial running in a slot), one reader (the monitor).

Layout (little-endian, version 2)::

    header  (64 bytes): magic u32 | version u16 | record_size u16 | capacity u32 | pad u32
                        | write_seq u64 | pad ...
    records (capacity x 192 bytes), record ``s`` (1-based sequence number) lives in slot
    ``(s - 1) % capacity``:
        seq u64 | kind u16 | version u16 | trial_id u32 | epoch i32 | index i32 | time f64
        | name 32 bytes (utf-8, NUL padded) | values 16 x f64

Version 2: weight and gradient records carry the 15 ``history.STAT_NAMES`` (``update_ratio``
added); a ring of another version is refused, never misread.

The writer fills a record, then stores its ``seq`` last, then advances ``write_seq`` in the
header; a killed writer therefore never publishes a half-written record. The reader remembers
the next sequence number it expects. When the writer has lapped it (``write_seq - next >=
capacity``) or a slot's ``seq`` changed while it was being copied, the skipped records are
counted in :attr:`RingReader.lost` - overrun is reported, never silent.

Shared memory is created (and unlinked) by the main process only; workers attach by name.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Sequence
from enum import IntEnum
from multiprocessing import shared_memory
from typing import NamedTuple

import numpy as np

MAGIC = 0xB77AC4E1
VERSION = 2
HEADER_SIZE = 64
NAME_SIZE = 32
NUM_VALUES = 16
SHM_PREFIX = "bttackler"

RECORD_DTYPE = np.dtype(
    [
        ("seq", "<u8"),
        ("kind", "<u2"),
        ("version", "<u2"),
        ("trial_id", "<u4"),
        ("epoch", "<i4"),
        ("index", "<i4"),
        ("time", "<f8"),
        ("name", f"S{NAME_SIZE}"),
        ("values", "<f8", (NUM_VALUES,)),
    ]
)
RECORD_SIZE = RECORD_DTYPE.itemsize  # 192
_HEADER = struct.Struct("<IHHII")
_WRITE_SEQ_OFFSET = 16
_PAYLOAD = struct.Struct(f"<HHIiid{NAME_SIZE}s{NUM_VALUES}d")
_U64 = struct.Struct("<Q")


class Kind(IntEnum):
    """What a record carries."""

    METRIC = 1  # name = metric name, values[0] = value (part of an epoch report)
    EPOCH = 2  # closes an epoch report: values[0] = number of METRIC records before it
    WEIGHT = 3  # per-layer weight statistics (history.STAT_NAMES order)
    GRAD = 4  # per-layer gradient statistics
    ACTIVATION = 5  # values[0] = inactive ratio
    NONFINITE = 6  # values = [nan_count, inf_count, batch]
    # 7 was LAYER (model structure), written and read by nobody: retired, not reused
    STARTED = 8  # the trial process is up (values[0] = pid)
    ERROR = 9  # the trial raised: name = first 32 bytes of the text, values[0] = continuations
    MESSAGE = 10  # continuation of a text record: name holds the next 32 bytes
    EXIT = 11  # written by the worker after the trial process ended: [exit code, signal, killed]
    NOTE = 12  # something the runner should tell the user: text as ERROR (e.g. unread params)
    # the probe's one provisional record inside epoch 1 (history.EarlyEvidence.to_values):
    # [batches, sampled, dead_ratio, losses, loss_first, loss_last, window]; index and name:
    # the layer of dead_ratio
    EARLY = 13


class Record(NamedTuple):
    """One decoded ring record (a NamedTuple: cheap to build by the tens of thousands)."""

    seq: int
    kind: int
    trial_id: int
    epoch: int
    layer: int  # the layer index of statistics records (-1 otherwise)
    time: float
    name: str
    values: tuple[float, ...]


def ring_bytes(capacity: int) -> int:
    return HEADER_SIZE + capacity * RECORD_SIZE


def shm_name(run_tag: str, slot: int) -> str:
    """Name of a slot's segment; the creating pid is part of it so stale ones can be swept."""
    return f"{SHM_PREFIX}-{os.getpid()}-{run_tag}-{slot}"


def create_ring(name: str, capacity: int) -> shared_memory.SharedMemory:
    """Create and initialise a ring segment (main process only)."""
    if capacity < 2:
        raise ValueError(f"capacity must be >= 2, got {capacity}")
    shm = shared_memory.SharedMemory(name=name, create=True, size=ring_bytes(capacity))
    buf = shm.buf
    assert buf is not None  # mypy: a fresh segment always has a buffer
    buf[: ring_bytes(capacity)] = bytes(ring_bytes(capacity))
    _HEADER.pack_into(buf, 0, MAGIC, VERSION, RECORD_SIZE, capacity, 0)
    return shm


def _check_header(buf: memoryview) -> int:
    magic, version, record_size, capacity, _ = _HEADER.unpack_from(buf, 0)
    if magic != MAGIC or version != VERSION or record_size != RECORD_SIZE:
        raise ValueError(
            f"not a bttackler ring (magic {magic:#x}, version {version}, record {record_size})"
        )
    return int(capacity)


class RingWriter:
    """Appends records; exactly one writer per ring at a time (the slot's current trial)."""

    def __init__(self, buf: memoryview) -> None:
        self._buf = buf
        self.capacity = _check_header(buf)
        # Continue after whatever an earlier trial of this slot wrote.
        self._seq = _U64.unpack_from(buf, _WRITE_SEQ_OFFSET)[0]

    def write(
        self,
        kind: int,
        trial_id: int,
        *,
        epoch: int = -1,
        index: int = -1,
        name: str = "",
        values: Sequence[float] = (),
    ) -> int:
        """Append one record and publish it; returns its sequence number."""
        seq = self._seq + 1
        offset = HEADER_SIZE + ((seq - 1) % self.capacity) * RECORD_SIZE
        padded = list(values[:NUM_VALUES]) + [0.0] * (NUM_VALUES - min(len(values), NUM_VALUES))
        encoded = name.encode("utf-8", "replace")[:NAME_SIZE]
        _U64.pack_into(self._buf, offset, 0)  # invalidate the slot while it is rewritten
        _PAYLOAD.pack_into(
            self._buf,
            offset + 8,
            kind,
            VERSION,
            trial_id,
            epoch,
            index,
            time.time(),
            encoded,
            *padded,
        )
        _U64.pack_into(self._buf, offset, seq)
        _U64.pack_into(self._buf, _WRITE_SEQ_OFFSET, seq)
        self._seq = seq
        return seq

    def write_text(self, kind: int, trial_id: int, text: str) -> None:
        """Write a text (an error message) as one record plus MESSAGE continuations."""
        data = text.encode("utf-8", "replace")[: NAME_SIZE * 64]
        chunks = [data[i : i + NAME_SIZE] for i in range(0, len(data), NAME_SIZE)] or [b""]
        first, rest = chunks[0], chunks[1:]
        self.write(kind, trial_id, name=first.decode("utf-8", "ignore"), values=[len(rest)])
        for chunk in rest:
            self.write(Kind.MESSAGE, trial_id, name=chunk.decode("utf-8", "ignore"))


class RingReader:
    """Drains a ring; counts records lost to overrun in :attr:`lost`."""

    def __init__(self, buf: memoryview) -> None:
        self.capacity = _check_header(buf)
        self._records = np.ndarray(
            (self.capacity,), dtype=RECORD_DTYPE, buffer=buf, offset=HEADER_SIZE
        )
        self._buf = buf
        self.next_seq = _U64.unpack_from(buf, _WRITE_SEQ_OFFSET)[0] + 1
        self.lost = 0

    def pending(self) -> int:
        return int(_U64.unpack_from(self._buf, _WRITE_SEQ_OFFSET)[0]) + 1 - self.next_seq

    def read_array(self, limit: int | None = None) -> np.ndarray:
        """Copy out every published record not read yet, as a structured numpy array."""
        head = int(_U64.unpack_from(self._buf, _WRITE_SEQ_OFFSET)[0])
        if head < self.next_seq:
            return self._records[:0].copy()
        oldest_available = max(1, head - self.capacity + 1)
        if self.next_seq < oldest_available:
            self.lost += oldest_available - self.next_seq
            self.next_seq = oldest_available
        end = head if limit is None else min(head, self.next_seq + limit - 1)
        seqs = np.arange(self.next_seq, end + 1, dtype=np.uint64)
        slots = ((seqs - 1) % self.capacity).astype(np.intp)
        batch = self._records[slots].copy()
        # A slot whose seq differs from the one we expect was rewritten (or torn) meanwhile.
        recheck = self._records["seq"][slots]
        valid = (batch["seq"] == seqs) & (recheck == seqs)
        self.lost += int(len(seqs) - int(valid.sum()))
        self.next_seq = end + 1
        return batch[valid]

    def read(self, limit: int | None = None) -> list[Record]:
        return decode_all(self.read_array(limit))


def decode_all(rows: np.ndarray) -> list[Record]:
    """Decode a batch of records column by column (``tolist`` per column runs in C; it is
    several times faster than converting record by record)."""
    names = [n.decode("utf-8", "replace") for n in rows["name"].tolist()]  # NULs stripped
    columns = zip(
        rows["seq"].tolist(),
        rows["kind"].tolist(),
        rows["trial_id"].tolist(),
        rows["epoch"].tolist(),
        rows["index"].tolist(),
        rows["time"].tolist(),
        names,
        map(tuple, np.ascontiguousarray(rows["values"]).tolist()),
    )
    return [Record._make(c) for c in columns]


def attach(name: str) -> shared_memory.SharedMemory:
    """Attach to an existing segment by name (worker side)."""
    return shared_memory.SharedMemory(name=name, create=False)


def sweep_stale_segments(shm_dir: str = "/dev/shm") -> list[str]:
    """Unlink segments left by bttackler processes that no longer exist (e.g. after kill -9)."""
    removed: list[str] = []
    try:
        entries = os.listdir(shm_dir)
    except OSError:
        return removed
    for entry in entries:
        parts = entry.split("-")
        if len(parts) < 3 or parts[0] != SHM_PREFIX or not parts[1].isdigit():
            continue
        if pid_alive(int(parts[1])):
            continue
        try:
            os.unlink(os.path.join(shm_dir, entry))
            removed.append(entry)
        except OSError:
            pass
    return removed


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
