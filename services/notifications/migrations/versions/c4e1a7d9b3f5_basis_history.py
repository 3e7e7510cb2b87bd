"""basis history: each setting of an audience's lawful basis, by whom and when; a contact's
STOP by text, and contacts found by phone

Revision ID: c4e1a7d9b3f5
Revises: b2d6e8f4a1c3
Create Date: 2026-12-07 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "c4e1a7d9b3f5"
down_revision: str | None = "b2d6e8f4a1c3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audience_basis_records",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("audience_id", sa.String(36), nullable=False),
        sa.Column("lawful_basis", sa.String(20), nullable=False),
        sa.Column("basis_note", sa.String(300), nullable=False),
        sa.Column("set_by", sa.String(80), nullable=False),
        sa.Column("recorded_at", UtcDateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_audience_basis_records_audience_id", "audience_basis_records", ["audience_id"]
    )
    # the bases set before the history was kept: their last setting, by an unknown hand
    op.execute(
        "INSERT INTO audience_basis_records"
        " (audience_id, lawful_basis, basis_note, set_by, recorded_at)"
        " SELECT audience_id, lawful_basis, basis_note, 'before the history was kept', updated_at"
        " FROM audience_lists"
    )

    with op.batch_alter_table("contacts") as table:
        table.add_column(sa.Column("sms_stopped_at", UtcDateTime(timezone=True), nullable=True))
        table.create_index("ix_contacts_phone", ["phone"])


def downgrade() -> None:
    with op.batch_alter_table("contacts") as table:
        table.drop_index("ix_contacts_phone")
        table.drop_column("sms_stopped_at")
    op.drop_index("ix_audience_basis_records_audience_id", "audience_basis_records")
    op.drop_table("audience_basis_records")
