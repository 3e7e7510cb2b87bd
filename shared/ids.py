"""Ids for rows and events: UUIDs of version 7, which sort in the order they were made (the
standard library has `uuid.uuid7` only from Python 3.14)."""

from __future__ import annotations

import secrets
import time
import uuid

_last_id = (0, 0)  # the millisecond and the count within it of the last id made here


def new_id() -> str:
    """A new id, as text (the same on every backend, and in events): a UUID of version 7 —
    the time in milliseconds, a count within the millisecond (RFC 9562's counter method) and
    62 random bits — so that ids made one after the other sort in that order. Rows written
    together land together in the primary key's index: a million random ids made a send's
    fan-out insert twice as slow as these, and slower as the table grew. (Threads racing
    here may make two ids of one count: still unique, by their random bits.)"""
    global _last_id
    ms, count = time.time_ns() // 1_000_000, 0
    last_ms, last_count = _last_id
    if ms <= last_ms:  # the same millisecond, or the clock stepped back: count on
        ms, count = (last_ms, last_count + 1) if last_count < 0xFFF else (last_ms + 1, 0)
    _last_id = (ms, count)
    value = ms << 80 | 0x7 << 76 | count << 64 | 0b10 << 62 | secrets.randbits(62)
    return str(uuid.UUID(int=value))
