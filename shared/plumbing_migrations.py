"""The Alembic operations for the tables every service has — outbox, inbox, idempotency
keys — written once, called from each service's migrations.

Each function is a step in those tables' history and, like any migration, never changes
once it has landed: a change to the tables (shared.outbox, shared.inbox, shared.idempotency)
is a new function here and a new migration in every service that calls it.
`tests/integration/test_migrations.py` checks that the steps in order build exactly what
shared/ declares.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime


def create_bookkeeping_tables() -> None:
    """Step 1 (a new service's first migration): the three tables as the four initial
    migrations created them."""
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_headers", sa.Text(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("scope", "key"),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer_group", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("processed_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer_group", "event_id"),
    )
    op.create_table(
        "outbox",
        sa.Column("position", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("position"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])


def index_bookkeeping() -> None:
    """Step 2: the relay finds the oldest unsent outbox rows, and the hourly pruning old
    inbox rows and expired idempotency keys, by an index instead of reading whole tables
    (an outbox's backlog can be a newsletter's 100,000 rows; an inbox grows by a row per
    event consumed)."""
    unsent = sa.text("sent_at IS NULL")
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["position"],
        postgresql_where=unsent,
        sqlite_where=unsent,
    )
    op.create_index("ix_inbox_processed_at", "inbox", ["processed_at"])
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def drop_bookkeeping_indexes() -> None:
    """Step 2 undone."""
    op.drop_index("ix_idempotency_keys_created_at", "idempotency_keys")
    op.drop_index("ix_inbox_processed_at", "inbox")
    op.drop_index("ix_outbox_unsent", "outbox")
