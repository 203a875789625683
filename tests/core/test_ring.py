"""Ring buffer: order, overrun detection, text records, torn-writer safety, cleanup."""

import multiprocessing
import os

import pytest

from bttackler.core.ring import (
    Kind,
    RingReader,
    RingWriter,
    create_ring,
    decode_all,
    shm_name,
    sweep_stale_segments,
)


@pytest.fixture
def ring():
    shm = create_ring(shm_name("test", os.getpid() % 1000), 16)
    yield shm
    shm.close()
    shm.unlink()


def test_records_arrive_in_order_with_their_fields(ring):
    writer, reader = RingWriter(ring.buf), RingReader(ring.buf)
    writer.write(Kind.METRIC, 7, epoch=3, name="val_acc", values=[0.5])
    writer.write(Kind.EPOCH, 7, epoch=3, values=[1])
    records = reader.read()
    assert [r.kind for r in records] == [Kind.METRIC, Kind.EPOCH]
    first = records[0]
    assert (first.trial_id, first.epoch, first.name, first.values[0]) == (7, 3, "val_acc", 0.5)
    assert [r.seq for r in records] == [1, 2]
    assert reader.read() == [] and reader.lost == 0


def test_overrun_is_counted_never_silent(ring):
    writer, reader = RingWriter(ring.buf), RingReader(ring.buf)
    for i in range(40):  # capacity 16: the first 24 are overwritten
        writer.write(Kind.METRIC, 1, epoch=i, name="m", values=[i])
    records = reader.read()
    assert reader.lost == 24
    assert [r.epoch for r in records] == list(range(24, 40))


def test_a_new_writer_continues_after_the_previous_one(ring):
    reader = RingReader(ring.buf)
    RingWriter(ring.buf).write(Kind.METRIC, 1, name="a", values=[1])
    RingWriter(ring.buf).write(Kind.METRIC, 2, name="b", values=[2])
    assert [(r.trial_id, r.seq) for r in reader.read()] == [(1, 1), (2, 2)]


def test_unpublished_record_is_invisible(ring):
    """A writer killed mid-record never advanced write_seq: the reader must not see it."""
    writer, reader = RingWriter(ring.buf), RingReader(ring.buf)
    writer.write(Kind.METRIC, 1, name="a", values=[1])
    # simulate a torn write: invalidate slot 2's seq but do not publish
    import struct

    from bttackler.core.ring import HEADER_SIZE, RECORD_SIZE

    struct.pack_into("<Q", ring.buf, HEADER_SIZE + RECORD_SIZE, 0)
    assert len(reader.read()) == 1 and reader.lost == 0


def test_long_text_is_split_and_kept(ring):
    writer, reader = RingWriter(ring.buf), RingReader(ring.buf)
    text = "ValueError: " + "x" * 70
    writer.write_text(Kind.ERROR, 3, text)
    records = reader.read()
    assert records[0].kind == Kind.ERROR and records[0].values[0] == len(records) - 1
    assert "".join(r.name for r in records) == text


def _write_many(name, n):
    from bttackler.core.ring import attach

    shm = attach(name)
    writer = RingWriter(shm.buf)
    for i in range(n):
        writer.write(Kind.METRIC, 1, epoch=i, name="m", values=[float(i)])
    shm.close()


def test_records_from_another_process_arrive_intact():
    name = shm_name("xproc", 0)
    shm = create_ring(name, 4096)
    try:
        reader = RingReader(shm.buf)
        proc = multiprocessing.get_context("spawn").Process(target=_write_many, args=(name, 3000))
        proc.start()
        proc.join(60)
        rows = reader.read_array()
        assert len(rows) == 3000 and reader.lost == 0
        assert [int(r["epoch"]) for r in rows] == list(range(3000))
        assert decode_all(rows[-1:])[0].values[0] == 2999.0
    finally:
        shm.close()
        shm.unlink()


def test_sweep_removes_segments_of_dead_processes(tmp_path):
    (tmp_path / "bttackler-999999999-x-0").write_bytes(b"x")
    (tmp_path / f"bttackler-{os.getpid()}-x-0").write_bytes(b"x")
    (tmp_path / "other-1-x").write_bytes(b"x")
    removed = sweep_stale_segments(str(tmp_path))
    assert removed == ["bttackler-999999999-x-0"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"bttackler-{os.getpid()}-x-0",
        "other-1-x",
    ]
