"""an activity's audience, for the report's figures per audience

Revision ID: b5c8e1f3a7d2
Revises: d4d7b0e23f54
Create Date: 2026-12-08 00:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b5c8e1f3a7d2"
down_revision: str | None = "d4d7b0e23f54"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # activities counted before stay without one until approved again, or a rebuild
    with op.batch_alter_table("activity_facts") as table:
        table.add_column(sa.Column("audience_id", sa.String(36), nullable=True))
        table.add_column(sa.Column("audience_name", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("activity_facts") as table:
        table.drop_column("audience_name")
        table.drop_column("audience_id")
