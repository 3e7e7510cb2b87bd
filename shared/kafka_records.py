"""Records whose header key is not UTF-8 reach the consumer instead of stopping it.

aiokafka decodes every header key as UTF-8. Its reader raises at a record whose key is
not — again at every poll, since it cannot step past — and the fetcher then drops the
records it had already read from that fetch and goes back to the bad one: the partition
stops for good, with no failure counted. `install()` (done by shared.messaging) has the
fetcher split fetches with aiokafka's own Python code and read each record batch with its
fast reader as before; a batch that fails so is read again from the failing record on with
aiokafka's Python reader, whose header keys are then decoded with U+FFFD for what is not
UTF-8. The record then goes on like any other: handled, or dead-lettered with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiokafka.consumer import fetcher
from aiokafka.record.default_records import DefaultRecordBatch, _DefaultRecordBatchPy
from aiokafka.record.memory_records import _MemoryRecordsPy

from shared.logging import get_logger

log = get_logger(__name__)


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


class _BatchReadAgainOnBadKeys:
    """aiokafka's batch, read by its fast reader; from a record whose header key is not
    UTF-8 on, by the lenient one. Everything but the records is the batch's own."""

    def __init__(self, batch: Any, raw: memoryview) -> None:
        self._batch = batch
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def __iter__(self) -> Iterator[Any]:
        read = -1  # offset of the last record read
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
                    yield record


class _MemoryRecords(_MemoryRecordsPy):
    """aiokafka's Python splitting of a fetch into record batches (a few per fetch)."""

    def __init__(self, bytes_data: bytes | None) -> None:
        super().__init__(bytes_data or b"")  # an empty fetch's records may be null

    def next_batch(self, *args: Any) -> Any:
        raw = self._next_slice
        batch = super().next_batch(*args)
        if raw is None or not isinstance(batch, DefaultRecordBatch):  # an old format
            return batch
        return _BatchReadAgainOnBadKeys(batch, raw)


def install() -> None:
    fetcher.MemoryRecords = _MemoryRecords  # type: ignore[misc,assignment]
