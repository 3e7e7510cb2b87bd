"""sms consent: whether a contact agreed to text messages (none had, before SMS was sent)

Revision ID: f7b3c2d4a6e8
Revises: e5a2b7c9d1f3
Create Date: 2026-12-07 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f7b3c2d4a6e8"
down_revision: str | None = "e5a2b7c9d1f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as table:
        table.add_column(
            sa.Column("sms_consent", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts") as table:
        table.drop_column("sms_consent")
