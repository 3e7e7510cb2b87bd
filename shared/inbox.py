"""Inbox: the processed-event record that makes redelivery harmless.

The insert *is* the duplicate check: its primary key (consumer group, event id) rejects
a second copy, and it commits in the same transaction as the handler's effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson
from sqlalchemy import Column, MetaData, String, Table, TextClause, bindparam, text

from shared.db import UtcDateTime


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer_group", String(200), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("processed_at", UtcDateTime, nullable=False, index=True),  # pruned by age
    )


# A batch's events go in as arrays (JSON text on SQLite): one short statement whatever the
# batch size, no per-row parameters for the driver to bind. ON CONFLICT DO NOTHING skips the
# events already claimed (and a second copy within the batch); RETURNING names the new ones.
_CLAIM = {
    "postgresql": """
        INSERT INTO inbox (consumer_group, event_id, event_type, processed_at)
        SELECT :group, e.id, e.type, :now
        FROM unnest(CAST(:ids AS varchar[]), CAST(:types AS varchar[])) AS e(id, type)
        ON CONFLICT DO NOTHING RETURNING event_id""",
    "sqlite": """
        INSERT INTO inbox (consumer_group, event_id, event_type, processed_at)
        SELECT :group, json_extract(value, '$[0]'), json_extract(value, '$[1]'), :now
        FROM json_each(:events) WHERE true
        ON CONFLICT DO NOTHING RETURNING event_id""",
}


def claim(
    dialect: str, consumer_group: str, events: Sequence[tuple[str, str]], now: datetime
) -> TextClause:
    """The statement that claims (event id, type) pairs for a consumer group."""
    processed_at = bindparam("now", now, type_=UtcDateTime)
    statement = text(_CLAIM[dialect]).bindparams(processed_at, group=consumer_group)
    if dialect == "sqlite":
        return statement.bindparams(events=orjson.dumps(events).decode())
    return statement.bindparams(ids=[i for i, _ in events], types=[t for _, t in events])
