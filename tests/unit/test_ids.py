"""Row ids: UUIDs of version 7, ordered by the time they were made (see shared.ids.new_id)."""

from __future__ import annotations

import time
import uuid

from shared.ids import new_id


def test_a_row_id_is_a_uuid_of_version_7_that_carries_the_millisecond_it_was_made() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    parsed = uuid.UUID(made)
    assert (parsed.version, parsed.variant, str(parsed)) == (7, uuid.RFC_4122, made)
    assert before <= parsed.int >> 80 <= after


def test_ids_made_one_after_the_other_sort_in_that_order_even_within_a_millisecond() -> None:
    burst = [new_id() for _ in range(2_000)]  # many of them in the same millisecond
    time.sleep(0.002)
    later = new_id()
    assert burst == sorted(burst) and len(set(burst)) == len(burst)
    assert len({uuid.UUID(i).int >> 80 for i in burst}) < len(burst)  # shared milliseconds
    assert burst[-1] < later
