"""a timer's messages go out in rounds: where the last round stopped

Revision ID: e1f2a3b4c5d6
Revises: d2b5f8c01d32
Create Date: 2026-12-06 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e1f2a3b4c5d6"
down_revision: str | None = "d2b5f8c01d32"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("event_timers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_through", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("event_timers", schema=None) as batch_op:
        batch_op.drop_column("sent_through")
