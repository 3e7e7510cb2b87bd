"""No record batch the client library cannot read stops a partition.

aiokafka raises at a batch whose CRC does not match (the broker may store one: Tansu does)
and at a record whose header key is not UTF-8 — again at every poll, since it cannot step
past — and the fetcher then drops the records it had already read from that fetch and goes
back to the bad one: the partition stops for good, with no failure counted. `install()`
(done by shared.messaging) has the fetcher split fetches with aiokafka's own Python code
and read each record batch with its fast reader as before, except that
- a batch that fails on a header key is read again from the failing record on with
  aiokafka's Python reader, whose header keys are then decoded with U+FFFD for what is not
  UTF-8; the record goes on like any other: handled, or dead-lettered with its reason;
- a batch that fails its CRC check, or that the reader cannot parse, becomes one record at
  the batch's last offset (so the fetcher moves past it), valued the batch's bytes, with
  the reason in its `UNREADABLE` header: the consumer dead-letters it with that reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiokafka.consumer import fetcher
from aiokafka.record.default_records import DefaultRecordBatch, _DefaultRecordBatchPy
from aiokafka.record.memory_records import _MemoryRecordsPy

from shared.logging import get_logger

log = get_logger(__name__)

UNREADABLE = "budskab-unreadable"  # header of a record that stands for an unreadable batch


class _Lenient(bytearray):
    """A buffer whose slices decode with U+FFFD instead of failing."""

    def __getitem__(self, index: Any) -> Any:
        item = super().__getitem__(index)
        return _Lenient(item) if isinstance(index, slice) else item

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return super().decode(encoding, "replace")


class _LenientBatch(_DefaultRecordBatchPy):
    def __iter__(self) -> _LenientBatch:
        super().__iter__()  # decompresses into a new buffer
        self._buffer = _Lenient(self._buffer)  # type: ignore[has-type]
        return self


class _Unreadable:
    """The record the fetcher is given for a batch (or the rest of one) it cannot read."""

    key = None
    checksum = None

    def __init__(self, batch: Any, raw: memoryview, reason: str) -> None:
        self.offset = batch.next_offset - 1  # the batch's last: the fetcher goes on after it
        self.timestamp = batch.max_timestamp
        self.timestamp_type = batch.timestamp_type
        self.value = bytes(raw)
        self.headers = [(UNREADABLE, reason.encode())]


class _ReadableBatch:
    """aiokafka's batch, read by its fast reader; from a record whose header key is not
    UTF-8 on, by the lenient one; as one `_Unreadable` record if it cannot be read.
    Everything but the records is the batch's own."""

    def __init__(self, batch: Any, raw: memoryview) -> None:
        self._batch = batch
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def validate_crc(self) -> bool:
        return True  # checked by __iter__: a bad batch is a record to dead-letter, not a stop

    def __iter__(self) -> Iterator[Any]:
        if not self._batch.validate_crc():
            yield self._unreadable("record batch failed its CRC check")
            return
        read = -1  # offset of the last record read
        try:
            try:
                for record in self._batch:
                    read = record.offset
                    yield record
            except UnicodeDecodeError as exc:
                log.warning(
                    "record with a header key that is not UTF-8, read with U+FFFD",
                    after_offset=read,
                    error=str(exc),
                )
                for record in _LenientBatch(self._raw):
                    if record.offset > read:
                        read = record.offset
                        yield record
        except Exception as exc:  # noqa: BLE001  (whatever the reader fails with)
            yield self._unreadable(f"record batch the client cannot read: {exc!r}")

    def _unreadable(self, reason: str) -> _Unreadable:
        log.warning(
            "unreadable record batch, to be dead-lettered",
            base_offset=self._batch.base_offset,
            next_offset=self._batch.next_offset,
            reason=reason,
        )
        return _Unreadable(self._batch, self._raw, reason)


class _MemoryRecords(_MemoryRecordsPy):
    """aiokafka's Python splitting of a fetch into record batches (a few per fetch)."""

    def __init__(self, bytes_data: bytes | None) -> None:
        super().__init__(bytes_data or b"")  # an empty fetch's records may be null

    def next_batch(self, *args: Any) -> Any:
        raw = self._next_slice
        batch = super().next_batch(*args)
        if raw is None or not isinstance(batch, DefaultRecordBatch):  # an old format
            return batch
        return _ReadableBatch(batch, raw)


def install() -> None:
    fetcher.MemoryRecords = _MemoryRecords  # type: ignore[misc,assignment]
