"""Inbox: the processed-event record that makes redelivery harmless.

The insert *is* the duplicate check: its primary key (consumer group, event id) rejects
a second copy, and it commits in the same transaction as the handler's effect.
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table

from shared.db import UtcDateTime


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer_group", String(200), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("processed_at", UtcDateTime, nullable=False),
    )
