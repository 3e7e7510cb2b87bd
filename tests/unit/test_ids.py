"""Row ids: UUIDs of version 7, ordered by the time they were made (see shared.db.new_id)."""

from __future__ import annotations

import time
import uuid

from shared.db import new_id


def test_a_row_id_is_a_uuid_of_version_7_that_sorts_by_the_millisecond_it_was_made() -> None:
    before = time.time_ns() // 1_000_000
    first = new_id()
    time.sleep(0.002)
    second = new_id()
    parsed = uuid.UUID(first)
    assert (parsed.version, parsed.variant, str(parsed)) == (7, uuid.RFC_4122, first)
    assert first < second
    assert 0 <= (parsed.int >> 80) - before <= 1


def test_row_ids_made_in_the_same_millisecond_differ() -> None:
    assert len({new_id() for _ in range(20_000)}) == 20_000
