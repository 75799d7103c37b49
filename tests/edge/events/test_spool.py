"""The event spool: segments, sealing, whole records, and what a failed write leaves."""

from __future__ import annotations

import os
import stat

import pytest

from edge.events import spool as spool_module
from edge.events.spool import SpoolReader, SpoolWriter
from edge.model.events import Event


def event(i: int, url: str = "https://example.com/") -> Event:
    return Event(f"{i:038x}", "click", 1_700_000_000_000 + i, 1, "track.test", url=url)


def test_a_segment_is_sealed_when_its_writer_rotates_or_closes(tmp_path):
    writer = SpoolWriter(tmp_path)
    writer.segment_bytes = 1  # every write after the first begins a new segment
    writer.write([event(1).row()])
    first = writer.path
    writer.write([event(2).row()])
    reader = SpoolReader(tmp_path)
    assert [(s.path, s.sealed) for s in reader.segments()] == [(first, True), (writer.path, False)]
    writer.close()
    assert [s.sealed for s in reader.segments()] == [True, True]


def test_segments_are_private_to_the_owner(tmp_path):
    writer = SpoolWriter(tmp_path / "spool")
    writer.write([event(1).row()])
    assert stat.S_IMODE(os.stat(tmp_path / "spool").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(writer.path).st_mode) == 0o600


def test_a_writer_that_wrote_nothing_leaves_no_file(tmp_path):
    writer = SpoolWriter(tmp_path)
    writer.close()
    assert list(tmp_path.iterdir()) == []


def test_events_read_back_are_the_events_written(tmp_path):
    written = [event(1), event(2, 'https://example.com/ü?a="b"'), event(3)]
    written[2].prefetch = True
    writer = SpoolWriter(tmp_path)
    writer.write([e.row() for e in written[:2]])
    writer.write([written[2].row()])
    writer.close()
    reader = SpoolReader(tmp_path)
    (segment,) = reader.segments()
    chunk = reader.read(segment, 0, 1 << 20)
    assert chunk.events == written
    assert chunk.end == segment.size


def test_a_lone_surrogate_is_read_back_as_written(tmp_path):
    # A token's JSON payload may carry one (a message or link name "\ud800").
    written = [event(1, "https://example.com/\ud800")]
    writer = SpoolWriter(tmp_path)
    writer.write([e.row() for e in written])
    writer.close()
    reader = SpoolReader(tmp_path)
    (segment,) = reader.segments()
    assert reader.read(segment, 0, 1 << 20).events == written


def test_a_record_longer_than_the_read_size_is_still_read_whole(tmp_path):
    writer = SpoolWriter(tmp_path)
    writer.write([event(i).row() for i in range(100)])
    writer.write([event(100).row()])
    reader = SpoolReader(tmp_path)
    (segment,) = reader.segments()
    first = reader.read(segment, 0, 1)  # less than even a record's head
    assert [e.id for e in first.events] == [event(i).id for i in range(100)]
    second = reader.read(segment, first.end, 1)
    assert [e.id for e in second.events] == [event(100).id]


def test_a_short_write_is_cut_off_and_raises_so_the_rows_can_be_tried_again(tmp_path, monkeypatch):
    writer = SpoolWriter(tmp_path)
    writer.write([event(1).row()])
    size = os.path.getsize(writer.path)
    real_write = os.write

    def disk_full(fd: int, data: bytes) -> int:
        return real_write(fd, data[:10])  # what a full disk does

    monkeypatch.setattr(spool_module.os, "write", disk_full)
    with pytest.raises(OSError, match="short write"):
        writer.write([event(2).row()])
    assert os.path.getsize(writer.path) == size
    monkeypatch.setattr(spool_module.os, "write", real_write)
    writer.write([event(2).row()])
    writer.close()
    reader = SpoolReader(tmp_path)
    (segment,) = reader.segments()
    assert [e.id for e in reader.read(segment, 0, 1 << 20).events] == [event(1).id, event(2).id]
