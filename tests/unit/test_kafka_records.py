"""The record reader the consumers' fetcher uses: aiokafka's, except that a header key
that is not UTF-8 is read with U+FFFD instead of stopping at it, and a batch it cannot read
becomes one record to dead-letter (on the real broker: tests/integration/test_consumers.py,
test_a_header_key_that_is_not_utf8_stops_nothing and test_a_corrupt_batch_stops_nothing)."""

import struct

import pytest
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy
from aiokafka.record.util import calc_crc32c

from shared.kafka_records import UNREADABLE, _MemoryRecords
from tests.helpers import RawHeaderKey, corrupt_crc

CRC_AT, ATTRIBUTES_AT = 17, 21  # where a v2 batch's CRC is, and where what it covers starts


def three_records(base_offset: int = 0) -> bytearray:
    builder = _DefaultRecordBatchBuilderPy(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=100_000,
    )
    for offset in range(3):
        builder.append(offset, timestamp=None, key=b"k", value=b"value", headers=[])
    batch = builder.build()
    batch[:8] = struct.pack(">q", base_offset)  # as the broker sets it
    return batch


@pytest.mark.parametrize("compression", [0, 1], ids=["plain", "gzip"])
def test_every_record_of_a_batch_is_read_around_a_bad_header_key(compression: int) -> None:
    builder = _DefaultRecordBatchBuilderPy(
        magic=2,
        compression_type=compression,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=100_000,
    )
    builder.append(0, timestamp=None, key=b"k", value=b"before", headers=[("ok", b"1")])
    builder.append(
        1, timestamp=None, key=b"k", value=b"bad", headers=[(RawHeaderKey(b"\xffx"), b"2")]
    )
    builder.append(2, timestamp=None, key=b"k", value=b"after", headers=[])
    records = _MemoryRecords(bytes(builder.build()))

    read = [(r.offset, r.value, r.headers) for r in records.next_batch()]

    assert read == [
        (0, b"before", [("ok", b"1")]),
        (1, b"bad", [("\ufffdx", b"2")]),
        (2, b"after", []),
    ]
    assert not records.has_next()


def test_an_empty_fetch_has_no_batches() -> None:
    # a broker may send a null record set for a partition with nothing new (Tansu does);
    # aiokafka's own Python splitter fails on it, and the fetcher then waits a retry backoff
    for empty in (None, b""):
        records = _MemoryRecords(empty)
        assert not records.has_next()
        assert records.size_in_bytes() == 0


def test_a_batch_that_fails_its_crc_check_is_one_record_at_its_last_offset() -> None:
    bad = corrupt_crc(three_records(base_offset=10))
    records = _MemoryRecords(bytes(bad + three_records(base_offset=13)))

    first = records.next_batch()
    assert first.validate_crc()  # the fetcher's own check would stop here for good
    [unreadable] = list(first)
    assert unreadable.offset == 12  # the fetcher goes on at 13
    assert first.next_offset == 13
    assert unreadable.value == bytes(bad)
    assert unreadable.headers == [(UNREADABLE, b"record batch failed its CRC check")]
    assert [r.offset for r in records.next_batch()] == [13, 14, 15]


def test_a_batch_whose_records_cannot_be_parsed_is_one_record_after_those_read() -> None:
    batch = three_records()
    batch[-9] = 0x7E  # the last record's key length (zigzag 63): past the end of the batch
    batch[CRC_AT:ATTRIBUTES_AT] = struct.pack(">I", calc_crc32c(bytes(batch[ATTRIBUTES_AT:])))
    records = _MemoryRecords(bytes(batch))

    read = list(records.next_batch())

    assert [r.offset for r in read] == [0, 1, 2]
    assert read[-1].value == bytes(batch)
    [(key, reason)] = read[-1].headers
    assert key == UNREADABLE and reason.startswith(b"record batch the client cannot read")
