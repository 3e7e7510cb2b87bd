"""The record reader the consumers' fetcher uses: aiokafka's, except that a header key
that is not UTF-8 is read with U+FFFD instead of stopping at it (on the real broker:
tests/integration/test_consumers.py::test_a_header_key_that_is_not_utf8_stops_nothing)."""

import pytest
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy

from shared.kafka_records import _MemoryRecords
from tests.helpers import RawHeaderKey


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
