"""lists and segments: contacts' attributes, each audience's lawful basis, segments, and what
a send went to, on which basis, to how many

Revision ID: b2d6e8f4a1c3
Revises: a8c4d2e6f0b1
Create Date: 2026-12-07 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "b2d6e8f4a1c3"
down_revision: str | None = "a8c4d2e6f0b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as table:
        table.add_column(sa.Column("attributes", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("contact_imports") as table:
        table.add_column(
            sa.Column("attribute_columns", sa.JSON(), nullable=False, server_default="[]")
        )
    op.create_table(
        "audience_lists",
        sa.Column("audience_id", sa.String(36), primary_key=True),
        sa.Column("lawful_basis", sa.String(20), nullable=False),
        sa.Column("basis_note", sa.String(300), nullable=False, server_default=""),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("audience_id", sa.String(36), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("sends") as table:
        table.add_column(sa.Column("segment_id", sa.String(36), nullable=True))
        table.add_column(sa.Column("lawful_basis", sa.String(20), nullable=True))
        table.add_column(sa.Column("recipients", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sends") as table:
        table.drop_column("recipients")
        table.drop_column("lawful_basis")
        table.drop_column("segment_id")
    op.drop_table("segments")
    op.drop_table("audience_lists")
    with op.batch_alter_table("contact_imports") as table:
        table.drop_column("attribute_columns")
    with op.batch_alter_table("contacts") as table:
        table.drop_column("attributes")
