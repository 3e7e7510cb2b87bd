"""a STOP belongs to the number, not to a contact: kept for a number no contact has yet, and
lifted by a START from it; each STOP or START reply is acted on once

Revision ID: a8d4f2c6e1b9
Revises: c4e1a7d9b3f5
Create Date: 2026-12-08 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "a8d4f2c6e1b9"
down_revision: str | None = "c4e1a7d9b3f5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sms_stops",
        sa.Column("phone", sa.String(20), primary_key=True),
        sa.Column("stopped_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(80), nullable=False),
    )
    op.create_table(
        "sms_replies_taken",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("taken_at", UtcDateTime(timezone=True), nullable=False),
    )
    # the numbers of the contacts who replied STOP before: the earliest reply of each
    op.execute(
        "INSERT INTO sms_stops (phone, stopped_at, source)"
        " SELECT phone, MIN(sms_stopped_at), 'a reply before stops were kept by number'"
        " FROM contacts WHERE sms_stopped_at IS NOT NULL AND phone IS NOT NULL GROUP BY phone"
    )
    with op.batch_alter_table("contacts") as table:
        table.drop_column("sms_stopped_at")


def downgrade() -> None:
    with op.batch_alter_table("contacts") as table:
        table.add_column(sa.Column("sms_stopped_at", UtcDateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE contacts SET sms_stopped_at ="
        " (SELECT stopped_at FROM sms_stops WHERE sms_stops.phone = contacts.phone)"
    )
    op.drop_table("sms_replies_taken")
    op.drop_table("sms_stops")
